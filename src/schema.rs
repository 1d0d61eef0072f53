// @generated automatically by Diesel CLI.

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
    fund_auditors (fund_id, org_id) {
        fund_id -> Uuid,
        org_id -> Uuid,
        assigned_at -> Timestamptz,
    }
}

diesel::table! {
    funds (id) {
        id -> Uuid,
        name -> Text,
        currency -> Text,
        secretariat_org_id -> Uuid,
        created_at -> Timestamptz,
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
    organizations (id) {
        id -> Uuid,
        name -> Text,
        kind -> Text,
        active -> Bool,
        created_at -> Timestamptz,
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
    role_grants (id) {
        id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        granted_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
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
    users (id) {
        id -> Uuid,
        org_id -> Uuid,
        email -> Text,
        password_hash -> Text,
        active -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(chain_heads -> chains (chain_id));
diesel::joinable!(checkpoints -> chains (chain_id));
diesel::joinable!(checkpoints -> signing_keys (key_id));
diesel::joinable!(fund_auditors -> funds (fund_id));
diesel::joinable!(fund_auditors -> organizations (org_id));
diesel::joinable!(funds -> chains (id));
diesel::joinable!(funds -> organizations (secretariat_org_id));
diesel::joinable!(ledger_entries -> chains (chain_id));
diesel::joinable!(merkle_nodes -> chains (chain_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(role_grants -> users (user_id));
diesel::joinable!(users -> organizations (org_id));

diesel::allow_tables_to_appear_in_same_query!(
    chain_heads,
    chains,
    checkpoints,
    fund_auditors,
    funds,
    ledger_entries,
    merkle_nodes,
    organizations,
    refresh_tokens,
    role_grants,
    signing_keys,
    users,
);
