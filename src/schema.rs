// @generated automatically by Diesel CLI.

diesel::table! {
    allocations (fund_id, seq) {
        fund_id -> Uuid,
        seq -> Int8,
        ministry_org_id -> Uuid,
        budget_line -> Text,
        category -> Text,
        amount_fund -> Numeric,
        period_start -> Date,
        period_end -> Date,
        disbursed_fund -> Numeric,
        reversed -> Bool,
    }
}

diesel::table! {
    approval_policies (fund_id) {
        fund_id -> Uuid,
        seq -> Int8,
        expiry_hours -> Int4,
        rules -> Jsonb,
    }
}

diesel::table! {
    approval_requests (fund_id, seq) {
        fund_id -> Uuid,
        seq -> Int8,
        kind -> Text,
        body -> Jsonb,
        business_date -> Date,
        maker -> Text,
        approver_role -> Text,
        ministry_org_id -> Nullable<Uuid>,
        amount_fund -> Numeric,
        policy_seq -> Int8,
        requested_at -> Timestamptz,
        expires_at -> Timestamptz,
        state -> Text,
        decided_seq -> Nullable<Int8>,
        decided_by -> Nullable<Text>,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    approvals (fund_id, seq) {
        fund_id -> Uuid,
        seq -> Int8,
        entry_seq -> Int8,
        approver -> Text,
        reversed -> Bool,
    }
}

diesel::table! {
    bank_accounts (id) {
        id -> Uuid,
        fund_id -> Uuid,
        seq -> Int8,
        account -> Text,
        currency -> Text,
        owner -> Text,
        ministry_org_id -> Nullable<Uuid>,
        name -> Text,
    }
}

diesel::table! {
    bank_lines (fund_id, seq, line) {
        fund_id -> Uuid,
        seq -> Int8,
        line -> Int4,
        account_id -> Uuid,
        booking_date -> Date,
        amount -> Numeric,
        currency -> Text,
        reference -> Text,
        counterparty -> Text,
    }
}

diesel::table! {
    bank_matches (fund_id, seq, entry_seq) {
        fund_id -> Uuid,
        seq -> Int8,
        statement_seq -> Int8,
        line -> Int4,
        account_id -> Uuid,
        entry_seq -> Int8,
        amount -> Numeric,
    }
}

diesel::table! {
    bank_statements (fund_id, seq) {
        fund_id -> Uuid,
        seq -> Int8,
        account_id -> Uuid,
        statement_id -> Text,
        from_date -> Date,
        to_date -> Date,
        currency -> Text,
        opening -> Numeric,
        closing -> Numeric,
    }
}

diesel::table! {
    bid_disqualifications (fund_id, seq) {
        fund_id -> Uuid,
        seq -> Int8,
        bid_seq -> Int8,
        tender_seq -> Int8,
        vendor_org_id -> Uuid,
        reversed -> Bool,
    }
}

diesel::table! {
    chain_heads (chain_id) {
        chain_id -> Uuid,
        size -> Int8,
        head_hash -> Bytea,
    }
}

diesel::table! {
    chains (id) {
        id -> Uuid,
        kind -> Text,
        origin -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    checkpoints (chain_id, tree_size) {
        chain_id -> Uuid,
        tree_size -> Int8,
        root_hash -> Bytea,
        signed_at -> Timestamptz,
        key_id -> Text,
        note -> Text,
    }
}

diesel::table! {
    contract_amendments (fund_id, seq) {
        fund_id -> Uuid,
        seq -> Int8,
        contract_seq -> Int8,
        old_value -> Numeric,
        new_value -> Numeric,
        old_starts_on -> Date,
        old_ends_on -> Date,
        reversed -> Bool,
    }
}

diesel::table! {
    contracts (fund_id, seq) {
        id -> Uuid,
        fund_id -> Uuid,
        seq -> Int8,
        tender_seq -> Int8,
        award_seq -> Int8,
        ministry_org_id -> Uuid,
        vendor_org_id -> Uuid,
        currency -> Text,
        original_value -> Numeric,
        value -> Numeric,
        starts_on -> Date,
        ends_on -> Date,
        amendments -> Int4,
        invoiced -> Numeric,
        paid -> Numeric,
        reversed -> Bool,
    }
}

diesel::table! {
    donor_positions (fund_id, donor_org_id) {
        fund_id -> Uuid,
        donor_org_id -> Uuid,
        pledged -> Numeric,
        received -> Numeric,
    }
}

diesel::table! {
    evidence_documents (fund_id, seq) {
        fund_id -> Uuid,
        seq -> Int8,
        entry_seq -> Int8,
        ministry_org_id -> Nullable<Uuid>,
        sha256 -> Text,
        size_bytes -> Int8,
        media_type -> Text,
        name -> Nullable<Text>,
    }
}

diesel::table! {
    flag_events (id) {
        id -> Uuid,
        flag_id -> Uuid,
        action -> Text,
        from_status -> Text,
        to_status -> Text,
        reason -> Nullable<Text>,
        actor_user_id -> Uuid,
        actor_role -> Text,
        admin_seq -> Int8,
        at -> Timestamptz,
    }
}

diesel::table! {
    flags (id) {
        id -> Uuid,
        fund_id -> Uuid,
        rule -> Text,
        severity -> Text,
        seq -> Int8,
        evidence -> Array<Nullable<Int8>>,
        ministry_org_id -> Nullable<Uuid>,
        vendor_org_id -> Nullable<Uuid>,
        message -> Text,
        business_date -> Date,
        raised_at -> Timestamptz,
        status -> Text,
        subject -> Text,
    }
}

diesel::table! {
    fund_auditors (fund_id, org_id) {
        fund_id -> Uuid,
        org_id -> Uuid,
        assigned_at -> Timestamptz,
    }
}

diesel::table! {
    fund_entries (fund_id, seq) {
        fund_id -> Uuid,
        seq -> Int8,
        kind -> Text,
        business_date -> Date,
        ministry_org_id -> Nullable<Uuid>,
        vendor_org_id -> Nullable<Uuid>,
        donor_org_id -> Nullable<Uuid>,
        category -> Nullable<Text>,
        currency -> Nullable<Text>,
        amount -> Nullable<Numeric>,
        amount_fund -> Nullable<Numeric>,
        ref_seq -> Nullable<Int8>,
        tender_seq -> Nullable<Int8>,
        reversed_by -> Nullable<Int8>,
        lot -> Nullable<Text>,
        status -> Nullable<Text>,
    }
}

diesel::table! {
    fund_positions (fund_id) {
        fund_id -> Uuid,
        pledged -> Numeric,
        received -> Numeric,
        allocated -> Numeric,
        disbursed -> Numeric,
        expended -> Numeric,
        paid -> Numeric,
    }
}

diesel::table! {
    funds (id) {
        id -> Uuid,
        name -> Text,
        currency -> Text,
        secretariat_org_id -> Uuid,
        created_at -> Timestamptz,
        active -> Bool,
        public_page -> Bool,
    }
}

diesel::table! {
    fx_rates (fund_id, seq) {
        fund_id -> Uuid,
        seq -> Int8,
        base -> Text,
        quote -> Text,
        rate_date -> Date,
        rate -> Numeric,
        reversed -> Bool,
    }
}

diesel::table! {
    invoices (fund_id, seq) {
        fund_id -> Uuid,
        seq -> Int8,
        contract_seq -> Int8,
        ministry_org_id -> Uuid,
        vendor_org_id -> Uuid,
        invoice_number -> Text,
        currency -> Text,
        amount -> Numeric,
        paid -> Numeric,
        reversed -> Bool,
    }
}

diesel::table! {
    ledger_entries (chain_id, seq) {
        chain_id -> Uuid,
        seq -> Int8,
        kind -> Text,
        business_date -> Date,
        recorded_at -> Timestamptz,
        idempotency_key -> Text,
        canonical -> Text,
        prev_hash -> Bytea,
        entry_hash -> Bytea,
    }
}

diesel::table! {
    merkle_nodes (chain_id, level, idx) {
        chain_id -> Uuid,
        level -> Int2,
        idx -> Int8,
        hash -> Bytea,
    }
}

diesel::table! {
    ministry_positions (fund_id, ministry_org_id) {
        fund_id -> Uuid,
        ministry_org_id -> Uuid,
        allocated -> Numeric,
        disbursed -> Numeric,
        expended -> Numeric,
        paid -> Numeric,
    }
}

diesel::table! {
    organization_identifiers (scheme, identifier) {
        scheme -> Text,
        identifier -> Text,
        org_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    organizations (id) {
        id -> Uuid,
        name -> Text,
        kind -> Text,
        active -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    reconciliation_settings (fund_id) {
        fund_id -> Uuid,
        seq -> Int8,
        settings -> Jsonb,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Uuid,
        family_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        token_hash -> Bytea,
        issued_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    report_blocks (fund_id, block_size, block) {
        fund_id -> Uuid,
        block_size -> Int8,
        block -> Int8,
    }
}

diesel::table! {
    role_grants (id) {
        id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        granted_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        approver -> Bool,
    }
}

diesel::table! {
    screening_thresholds (fund_id) {
        fund_id -> Uuid,
        seq -> Int8,
        config -> Jsonb,
    }
}

diesel::table! {
    signing_keys (key_id) {
        key_id -> Text,
        name -> Text,
        verifier_key -> Text,
        first_used_at -> Timestamptz,
    }
}

diesel::table! {
    tenders (fund_id, seq) {
        fund_id -> Uuid,
        seq -> Int8,
        ministry_org_id -> Uuid,
        method -> Text,
        stage -> Text,
        bids -> Int4,
        award_seq -> Nullable<Int8>,
        status -> Nullable<Text>,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        org_id -> Uuid,
        email -> Text,
        password_hash -> Text,
        active -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Int8,
        subscription_id -> Uuid,
        event_id -> Uuid,
        attempt -> Int4,
        at -> Timestamptz,
        outcome -> Text,
        response_status -> Nullable<Int4>,
        error -> Nullable<Text>,
        duration_ms -> Int8,
    }
}

diesel::table! {
    webhook_deliveries (subscription_id, event_id) {
        subscription_id -> Uuid,
        event_id -> Uuid,
        state -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> Uuid,
        fund_id -> Uuid,
        ministry_org_id -> Nullable<Uuid>,
        event_type -> Text,
        payload -> Jsonb,
        created_at -> Timestamptz,
        fanned_out -> Bool,
        only_subscription_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    webhook_subscriptions (id) {
        id -> Uuid,
        fund_id -> Uuid,
        url -> Text,
        event_types -> Array<Text>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_expires_at -> Nullable<Timestamptz>,
        owner_user_id -> Uuid,
        owner_org_id -> Uuid,
        owner_role -> Text,
        ministry_org_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(allocations -> funds (fund_id));
diesel::joinable!(allocations -> organizations (ministry_org_id));
diesel::joinable!(approval_policies -> funds (fund_id));
diesel::joinable!(approval_requests -> funds (fund_id));
diesel::joinable!(approval_requests -> organizations (ministry_org_id));
diesel::joinable!(approvals -> funds (fund_id));
diesel::joinable!(bid_disqualifications -> funds (fund_id));
diesel::joinable!(bid_disqualifications -> organizations (vendor_org_id));
diesel::joinable!(chain_heads -> chains (chain_id));
diesel::joinable!(checkpoints -> chains (chain_id));
diesel::joinable!(checkpoints -> signing_keys (key_id));
diesel::joinable!(contract_amendments -> funds (fund_id));
diesel::joinable!(contracts -> funds (fund_id));
diesel::joinable!(donor_positions -> funds (fund_id));
diesel::joinable!(donor_positions -> organizations (donor_org_id));
diesel::joinable!(evidence_documents -> funds (fund_id));
diesel::joinable!(evidence_documents -> organizations (ministry_org_id));
diesel::joinable!(flag_events -> flags (flag_id));
diesel::joinable!(flags -> funds (fund_id));
diesel::joinable!(fund_auditors -> funds (fund_id));
diesel::joinable!(fund_auditors -> organizations (org_id));
diesel::joinable!(fund_entries -> funds (fund_id));
diesel::joinable!(fund_positions -> funds (fund_id));
diesel::joinable!(funds -> chains (id));
diesel::joinable!(funds -> organizations (secretariat_org_id));
diesel::joinable!(fx_rates -> funds (fund_id));
diesel::joinable!(invoices -> funds (fund_id));
diesel::joinable!(ministry_positions -> funds (fund_id));
diesel::joinable!(ministry_positions -> organizations (ministry_org_id));
diesel::joinable!(organization_identifiers -> organizations (org_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(report_blocks -> funds (fund_id));
diesel::joinable!(role_grants -> users (user_id));
diesel::joinable!(screening_thresholds -> funds (fund_id));
diesel::joinable!(tenders -> funds (fund_id));
diesel::joinable!(tenders -> organizations (ministry_org_id));
diesel::joinable!(users -> organizations (org_id));

diesel::allow_tables_to_appear_in_same_query!(
    allocations,
    approval_policies,
    approval_requests,
    approvals,
    bank_accounts,
    bank_lines,
    bank_matches,
    bank_statements,
    bid_disqualifications,
    chain_heads,
    chains,
    checkpoints,
    contract_amendments,
    contracts,
    donor_positions,
    evidence_documents,
    flag_events,
    flags,
    fund_auditors,
    fund_entries,
    fund_positions,
    funds,
    fx_rates,
    invoices,
    ledger_entries,
    merkle_nodes,
    ministry_positions,
    organization_identifiers,
    organizations,
    reconciliation_settings,
    refresh_tokens,
    report_blocks,
    role_grants,
    screening_thresholds,
    signing_keys,
    tenders,
    users,
    webhook_attempts,
    webhook_deliveries,
    webhook_events,
    webhook_subscriptions,
);
