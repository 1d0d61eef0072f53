//! The invariants of the procurement kinds and the derived state they change
//! (docs/domain.md): a tender takes bids until it is awarded, an award goes to a bidder that
//! was not disqualified, a contract follows its award, amendments may not lower a contract
//! below what is invoiced, an invoice stays within its contract (or is flagged), a payment
//! pays an invoice of the same ministry or is a direct purchase left to screening, and an
//! approval is recorded by the entry's own ministry. Each function runs inside the append
//! transaction (`entries::effect`), and again with no actor when `fundtrail rebuild`
//! replays the chain; `undo` is what a reversal of each kind does.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::kinds::{
    self, Approval, Award, Bid, BidDisqualified, Contract, ContractAmendment, Invoice, Payment,
    Tender,
};
use crate::auth::guard::Role;
use crate::funds::ctx::{
    add, blocked, own_ministry, own_reference, reject, require_org, row, same_currency, seq_i64,
    sub, to_fund, unknown, with_money, Actor, Posting, Result,
};
use crate::funds::derived::Derived;
use crate::funds::state::{self, FundEntryRow};
use crate::ledger::writer::AppendError;
use crate::money::{Currency, Money};

pub fn tender(st: &mut Derived<'_>, p: &Posting<'_>, t: &Tender) -> Result<()> {
    let Posting {
        ctx, actor, date, ..
    } = *p;
    let s = p.seq_i64()?;
    let fund = p.ctx.fund;
    own_ministry(actor, t.ministry)?;
    require_org(st, actor, t.ministry, "ministry", "ministry")?;
    let amt = to_fund(st, ctx, &t.estimated_value, date)?;
    st.save_tender(&state::TenderRow {
        fund_id: fund,
        seq: s,
        ministry_org_id: t.ministry,
        method: t.method.as_str().to_owned(),
        stage: "open".to_owned(),
        bids: 0,
        award_seq: None,
        status: t.status.map(|x| x.as_str().to_owned()),
    })?;
    let mut r = with_money(row(ctx, s, "tender", date), &t.estimated_value, amt);
    r.ministry_org_id = Some(t.ministry);
    r.category = Some(t.category.clone());
    r.tender_seq = Some(s);
    st.save_entry(&r)?;
    Ok(())
}

pub fn bid(st: &mut Derived<'_>, p: &Posting<'_>, b: &Bid) -> Result<()> {
    let Posting {
        ctx, actor, date, ..
    } = *p;
    let s = p.seq_i64()?;
    // Imported evidence: a later release may add a bid on one lot after another lot's
    // award.
    let mut tender = if b.imported.is_some() || b.lot.is_some() {
        imported_tender(st, actor, b.tender)?
    } else {
        open_tender(st, actor, b.tender)?
    };
    require_org(st, actor, b.vendor, "vendor", "vendor")?;
    let amt = to_fund(st, ctx, &b.amount, date)?;
    tender.bids = tender.bids.saturating_add(1);
    st.save_tender(&tender)?;
    let mut r = with_money(row(ctx, s, "bid", date), &b.amount, amt);
    r.ministry_org_id = Some(tender.ministry_org_id);
    r.vendor_org_id = Some(b.vendor);
    r.lot = b.lot.clone();
    r.status = b.unknown_status.clone();
    r.ref_seq = Some(tender.seq);
    r.tender_seq = Some(tender.seq);
    st.save_entry(&r)?;
    Ok(())
}

pub fn award(st: &mut Derived<'_>, p: &Posting<'_>, a: &Award) -> Result<()> {
    let Posting {
        ctx, actor, date, ..
    } = *p;
    let s = p.seq_i64()?;
    // Imported evidence: a tender may have several awards (one per lot, or several
    // suppliers), and a publisher that publishes no bids still publishes its awards.
    let imported = a.imported.is_some();
    // A tender in lots takes one award per lot: another lot's award leaves it open.
    let mut tender = if imported || a.lot.is_some() {
        imported_tender(st, actor, a.tender)?
    } else {
        open_tender(st, actor, a.tender)?
    };
    require_org(st, actor, a.vendor, "vendor", "vendor")?;
    let bids_published = !imported || tender.bids > 0;
    if bids_published
        && tender.method != kinds::Method::Direct.as_str()
        && !st.has_bid(tender.seq, a.vendor)?
    {
        return Err(reject(
            "vendor_did_not_bid",
            format!(
                "tender {} is {}; only a vendor that bid can be awarded",
                a.tender, tender.method
            ),
        ));
    }
    // Whatever the method: a vendor ruled out of this tender (of this lot, when the
    // award names one) cannot win it.
    let mut ruled_out = None;
    for d in st.live_disqualifications(tender.seq, Some(a.vendor))? {
        let same_lot = match &a.lot {
            None => true,
            Some(lot) => st
                .entry(d.bid_seq)?
                .is_none_or(|b| b.lot.as_ref().is_none_or(|l| l == lot)),
        };
        if same_lot {
            ruled_out = Some(d);
            break;
        }
    }
    if let Some(d) = ruled_out {
        return Err(reject(
            "vendor_disqualified",
            format!(
                "bid {} of this vendor on tender {} was disqualified by entry {}",
                d.bid_seq, a.tender, d.seq
            ),
        ));
    }
    let amt = to_fund(st, ctx, &a.amount, date)?;
    if tender.stage == "open" {
        tender.stage = "awarded".to_owned();
    }
    tender.award_seq = Some(s);
    st.save_tender(&tender)?;
    let mut r = with_money(row(ctx, s, "award", date), &a.amount, amt);
    r.ministry_org_id = Some(tender.ministry_org_id);
    r.vendor_org_id = Some(a.vendor);
    r.lot = a.lot.clone();
    r.ref_seq = Some(tender.seq);
    r.tender_seq = Some(tender.seq);
    st.save_entry(&r)?;
    Ok(())
}

pub fn contract(st: &mut Derived<'_>, p: &Posting<'_>, c: &Contract) -> Result<()> {
    let Posting {
        ctx,
        actor,
        seq,
        date,
        ..
    } = *p;
    let s = p.seq_i64()?;
    let fund = p.ctx.fund;
    let award = st
        .entry(seq_i64(c.award)?)?
        .filter(|e| e.kind == "award" && e.reversed_by.is_none())
        .ok_or_else(|| unknown("live award", c.award))?;
    let (Some(tender_seq), Some(ministry), Some(vendor)) =
        (award.tender_seq, award.ministry_org_id, award.vendor_org_id)
    else {
        return Err(unknown("live award", c.award));
    };
    own_reference(actor, ministry, "award", c.award)?;
    let mut tender = st
        .tender(tender_seq)?
        .ok_or_else(|| unknown("live award", c.award))?;
    // An imported tender may hold several awards, each with its contracts (OCDS keys them
    // by their own ids; the import records each once).
    let several = (c.imported.is_some() || award.lot.is_some()) && tender.stage != "open";
    if !several && (tender.stage != "awarded" || tender.award_seq != Some(award.seq)) {
        return Err(reject(
            "award_already_contracted",
            format!("award {} already has a contract", c.award),
        ));
    }
    let amt = to_fund(st, ctx, &c.value, date)?;
    tender.stage = "contracted".to_owned();
    st.save_tender(&tender)?;
    st.save_contract(&state::ContractRow {
        id: contract_id(fund, seq),
        fund_id: fund,
        seq: s,
        tender_seq,
        award_seq: award.seq,
        ministry_org_id: ministry,
        vendor_org_id: vendor,
        currency: c.value.currency.code().to_owned(),
        original_value: c.value.value,
        value: c.value.value,
        starts_on: c.starts_on,
        ends_on: c.ends_on,
        amendments: 0,
        invoiced: Decimal::ZERO,
        paid: Decimal::ZERO,
        reversed: false,
    })?;
    let mut r = with_money(row(ctx, s, "contract", date), &c.value, amt);
    r.ministry_org_id = Some(ministry);
    r.vendor_org_id = Some(vendor);
    r.ref_seq = Some(award.seq);
    r.tender_seq = Some(tender_seq);
    st.save_entry(&r)?;
    Ok(())
}

pub fn contract_amendment(
    st: &mut Derived<'_>,
    p: &Posting<'_>,
    a: &ContractAmendment,
) -> Result<()> {
    let Posting {
        ctx, actor, date, ..
    } = *p;
    let s = p.seq_i64()?;
    let fund = p.ctx.fund;
    let mut contract = st
        .contract(seq_i64(a.contract)?)?
        .filter(|c| !c.reversed)
        .ok_or_else(|| unknown("live contract", a.contract))?;
    own_reference(actor, contract.ministry_org_id, "contract", a.contract)?;
    let old_value = contract.value;
    let (old_start, old_end) = (contract.starts_on, contract.ends_on);
    if let Some(v) = &a.new_value {
        same_currency(&contract.currency, v, "the contract")?;
        // Lowering the value below what is already invoiced is refused; raising it
        // is always allowed, even when the invoices already exceed the new value
        // (a partial regularisation of an overrun).
        if v.value < contract.value && v.value < contract.invoiced {
            return Err(reject(
                "amendment_below_invoiced",
                format!(
                    "the new value {v} lowers the contract below the {} {} already invoiced",
                    contract.invoiced, contract.currency
                ),
            ));
        }
        contract.value = v.value;
    }
    contract.starts_on = a.new_starts_on.unwrap_or(contract.starts_on);
    contract.ends_on = a.new_ends_on.unwrap_or(contract.ends_on);
    if contract.ends_on < contract.starts_on {
        return Err(reject(
            "invalid_dates",
            "the amended contract would end before it starts",
        ));
    }
    contract.amendments = contract.amendments.saturating_add(1);
    st.save_contract(&contract)?;
    st.save_amendment(&state::AmendmentRow {
        fund_id: fund,
        seq: s,
        contract_seq: contract.seq,
        old_value,
        new_value: contract.value,
        old_starts_on: old_start,
        old_ends_on: old_end,
        reversed: false,
    })?;
    let delta = sub(contract.value, old_value)?;
    let currency = Currency::parse(&contract.currency)
        .map_err(|e| AppendError::Internal(anyhow::anyhow!(e)))?;
    let delta_money = Money {
        value: delta,
        currency,
    };
    let delta_fund = if delta.is_zero() {
        Decimal::ZERO
    } else {
        to_fund(st, ctx, &delta_money, date)?
    };
    let mut r = with_money(
        row(ctx, s, "contract_amendment", date),
        &delta_money,
        delta_fund,
    );
    r.ministry_org_id = Some(contract.ministry_org_id);
    r.vendor_org_id = Some(contract.vendor_org_id);
    r.ref_seq = Some(contract.seq);
    r.tender_seq = Some(contract.tender_seq);
    st.save_entry(&r)?;
    Ok(())
}

pub fn invoice(st: &mut Derived<'_>, p: &Posting<'_>, i: &Invoice) -> Result<()> {
    let Posting {
        ctx, actor, date, ..
    } = *p;
    let s = p.seq_i64()?;
    let fund = p.ctx.fund;
    let mut contract = st
        .contract(seq_i64(i.contract)?)?
        .filter(|c| !c.reversed)
        .ok_or_else(|| unknown("live contract", i.contract))?;
    own_reference(actor, contract.ministry_org_id, "contract", i.contract)?;
    if i.vendor != contract.vendor_org_id {
        return Err(reject(
            "vendor_mismatch",
            format!("contract {} is with another vendor", i.contract),
        ));
    }
    same_currency(&contract.currency, &i.amount, "the contract")?;
    // Invoices may exceed the contract's value (with amendments): an overrun is a
    // fact the ledger must be able to record, and the `over-contract` screen flags
    // it (docs/domain.md, "Contracts and invoices"). No multiple of the value is
    // refused either: a mistyped amount is corrected by a reversal, and payments
    // still cannot exceed their invoice.
    let invoiced = add(contract.invoiced, i.amount.value)?;
    let amt = to_fund(st, ctx, &i.amount, date)?;
    contract.invoiced = invoiced;
    st.save_contract(&contract)?;
    st.save_invoice(&state::InvoiceRow {
        fund_id: fund,
        seq: s,
        contract_seq: contract.seq,
        ministry_org_id: contract.ministry_org_id,
        vendor_org_id: i.vendor,
        invoice_number: i.invoice_number.clone(),
        currency: contract.currency.clone(),
        amount: i.amount.value,
        paid: Decimal::ZERO,
        reversed: false,
    })?;
    let mut r = with_money(row(ctx, s, "invoice", date), &i.amount, amt);
    r.ministry_org_id = Some(contract.ministry_org_id);
    r.vendor_org_id = Some(i.vendor);
    r.ref_seq = Some(contract.seq);
    r.tender_seq = Some(contract.tender_seq);
    r.category = tender_category(st, contract.tender_seq)?;
    st.save_entry(&r)?;
    Ok(())
}

pub fn payment(st: &mut Derived<'_>, posting: &Posting<'_>, p: &Payment) -> Result<()> {
    let Posting {
        ctx, actor, date, ..
    } = *posting;
    let s = posting.seq_i64()?;
    let mut r = row(ctx, s, "payment", date);
    r.category = p.category.clone();
    let ministry = if let Some(inv_seq) = p.invoice {
        let mut invoice = st
            .invoice(seq_i64(inv_seq)?)?
            .filter(|i| !i.reversed)
            .ok_or_else(|| unknown("live invoice", inv_seq))?;
        own_reference(actor, invoice.ministry_org_id, "invoice", inv_seq)?;
        if let Some(m) = p.ministry {
            if m != invoice.ministry_org_id {
                return Err(reject(
                    "wrong_ministry",
                    format!("invoice {inv_seq} belongs to another ministry"),
                ));
            }
        }
        if p.vendor.is_some_and(|v| v != invoice.vendor_org_id) {
            return Err(reject(
                "vendor_mismatch",
                format!("invoice {inv_seq} is from another vendor"),
            ));
        }
        same_currency(&invoice.currency, &p.amount, "the invoice")?;
        let paid = add(invoice.paid, p.amount.value)?;
        if paid > invoice.amount {
            return Err(reject(
                "payment_exceeds_invoice",
                format!(
                    "payments would total {paid} {}, above the invoice amount of {} {}",
                    invoice.currency, invoice.amount, invoice.currency
                ),
            ));
        }
        let mut contract = st
            .contract(invoice.contract_seq)?
            .ok_or_else(|| unknown("live invoice", inv_seq))?;
        contract.paid = add(contract.paid, p.amount.value)?;
        invoice.paid = paid;
        st.save_invoice(&invoice)?;
        st.save_contract(&contract)?;
        r.vendor_org_id = Some(invoice.vendor_org_id);
        r.ref_seq = Some(invoice.seq);
        r.tender_seq = Some(contract.tender_seq);
        if r.category.is_none() {
            r.category = tender_category(st, contract.tender_seq)?;
        }
        invoice.ministry_org_id
    } else {
        // A direct purchase: no invoice or contract behind it (screening flags it).
        let (Some(vendor), Some(ministry)) = (p.vendor, p.ministry) else {
            return Err(reject(
                "invalid_body",
                "a direct purchase names its vendor and ministry",
            ));
        };
        own_ministry(actor, ministry)?;
        require_org(st, actor, ministry, "ministry", "ministry")?;
        require_org(st, actor, vendor, "vendor", "vendor")?;
        r.vendor_org_id = Some(vendor);
        ministry
    };
    let amt = to_fund(st, ctx, &p.amount, date)?;
    r = with_money(r, &p.amount, amt);
    let mut fp = st.fund_position()?;
    let mut mp = st.ministry_position(ministry)?;
    fp.paid = add(fp.paid, amt)?;
    mp.paid = add(mp.paid, amt)?;
    st.save_fund_position(&fp)?;
    st.save_ministry_position(&mp)?;
    r.ministry_org_id = Some(ministry);
    st.save_entry(&r)?;
    Ok(())
}

pub fn bid_disqualified(st: &mut Derived<'_>, p: &Posting<'_>, d: &BidDisqualified) -> Result<()> {
    let Posting {
        ctx, actor, date, ..
    } = *p;
    let s = p.seq_i64()?;
    let fund = p.ctx.fund;
    let bid = st
        .entry(seq_i64(d.bid)?)?
        .filter(|e| e.kind == "bid" && e.reversed_by.is_none())
        .ok_or_else(|| unknown("live bid", d.bid))?;
    let (Some(tender_seq), Some(vendor)) = (bid.tender_seq, bid.vendor_org_id) else {
        return Err(unknown("live bid", d.bid));
    };
    let tender = st
        .tender(tender_seq)?
        .ok_or_else(|| unknown("live bid", d.bid))?;
    own_reference(actor, tender.ministry_org_id, "bid", d.bid)?;
    if tender.stage != "open" && d.imported.is_none() {
        return Err(reject(
            "tender_not_open",
            format!(
                "tender {tender_seq} is {}; bids are disqualified before the award",
                tender.stage
            ),
        ));
    }
    if let Some(earlier) = st
        .live_disqualifications(tender_seq, Some(vendor))?
        .iter()
        .find(|q| q.bid_seq == bid.seq)
    {
        return Err(reject(
            "bid_already_disqualified",
            format!(
                "bid {} was already disqualified by entry {}",
                d.bid, earlier.seq
            ),
        ));
    }
    st.save_bid_disqualification(&state::BidDisqualificationRow {
        fund_id: fund,
        seq: s,
        bid_seq: bid.seq,
        tender_seq,
        vendor_org_id: vendor,
        reversed: false,
    })?;
    let mut r = row(ctx, s, "bid_disqualified", date);
    r.ministry_org_id = Some(tender.ministry_org_id);
    r.vendor_org_id = Some(vendor);
    r.ref_seq = Some(bid.seq);
    r.tender_seq = Some(tender_seq);
    st.save_entry(&r)?;
    Ok(())
}

pub fn approval(st: &mut Derived<'_>, p: &Posting<'_>, a: &Approval) -> Result<()> {
    let Posting {
        ctx,
        actor,
        poster,
        seq: _,
        date,
        ..
    } = *p;
    let s = p.seq_i64()?;
    let fund = p.ctx.fund;
    let target = st
        .entry(seq_i64(a.entry)?)?
        .ok_or_else(|| unknown("fund entry", a.entry))?;
    // A ministry approves only its own ministry's entries; anything else reads as
    // unknown, exactly like a missing seq.
    if let Some(act) = actor {
        if act.role == Role::Ministry && target.ministry_org_id != Some(act.org) {
            return Err(unknown("fund entry", a.entry));
        }
    }
    if !kinds::APPROVABLE_KINDS.contains(&target.kind.as_str()) {
        return Err(reject(
            "not_approvable",
            format!(
                "entry {} is a {}; an approval approves an {}",
                a.entry,
                target.kind,
                kinds::APPROVABLE_KINDS.join(", ")
            ),
        ));
    }
    if let Some(by) = target.reversed_by {
        return Err(reject(
            "not_approvable",
            format!("entry {} was reversed by entry {by}", a.entry),
        ));
    }
    if let Some(earlier) = st
        .live_approvals(target.seq)?
        .iter()
        .find(|x| x.approver == poster)
    {
        return Err(reject(
            "already_approved",
            format!(
                "you approved entry {} already (entry {})",
                a.entry, earlier.seq
            ),
        ));
    }
    st.save_approval(&state::ApprovalRow {
        fund_id: fund,
        seq: s,
        entry_seq: target.seq,
        approver: poster.to_owned(),
        reversed: false,
    })?;
    let mut r = row(ctx, s, "approval", date);
    r.ministry_org_id = target.ministry_org_id;
    r.vendor_org_id = target.vendor_org_id;
    r.ref_seq = Some(target.seq);
    r.tender_seq = target.tender_seq;
    st.save_entry(&r)?;
    Ok(())
}

/// The tender at `seq`, of the actor's own ministry, still taking bids and an award.
fn open_tender(st: &mut Derived<'_>, actor: Option<&Actor>, seq: u64) -> Result<state::TenderRow> {
    let tender = st
        .tender(seq_i64(seq)?)?
        .ok_or_else(|| unknown("tender", seq))?;
    own_reference(actor, tender.ministry_org_id, "tender", seq)?;
    if tender.stage != "open" {
        return Err(reject(
            "tender_not_open",
            format!("tender {seq} is {}", tender.stage),
        ));
    }
    Ok(tender)
}

/// The tender at `seq`, of the actor's own ministry, open, awarded or contracted: a
/// tender in lots takes bids and awards lot by lot, and imported evidence records what the
/// publisher recorded. A cancelled (reversed) tender takes nothing.
fn imported_tender(
    st: &mut Derived<'_>,
    actor: Option<&Actor>,
    seq: u64,
) -> Result<state::TenderRow> {
    let tender = st
        .tender(seq_i64(seq)?)?
        .ok_or_else(|| unknown("tender", seq))?;
    own_reference(actor, tender.ministry_org_id, "tender", seq)?;
    if tender.stage == "cancelled" {
        return Err(reject(
            "tender_not_open",
            format!("tender {seq} is {}", tender.stage),
        ));
    }
    Ok(tender)
}

/// The id of the contract recorded at `seq` of `fund`'s chain: UUIDv5 in the fund's id as
/// namespace, so that a rebuild derives the same id.
pub fn contract_id(fund: Uuid, seq: u64) -> Uuid {
    crate::funds::view::contract_id(fund, seq)
}

/// The item category of a tender: what its invoices and payments are spent on.
fn tender_category(st: &mut Derived<'_>, tender_seq: i64) -> Result<Option<String>> {
    Ok(st.entry(tender_seq)?.and_then(|t| t.category))
}

/// Undoes what `target` did to the derived state, when a reversal of it is applied; refuses
/// (`reversal_blocked`) while later entries still depend on it.
pub fn undo(st: &mut Derived<'_>, target: &FundEntryRow) -> Result<()> {
    let amt = target.amount_fund.unwrap_or(Decimal::ZERO);
    match target.kind.as_str() {
        "payment" => {
            let ministry = target
                .ministry_org_id
                .ok_or_else(|| blocked(target, "no ministry"))?;
            let mut fp = st.fund_position()?;
            let mut mp = st.ministry_position(ministry)?;
            fp.paid = sub(fp.paid, amt)?;
            mp.paid = sub(mp.paid, amt)?;
            if let Some(inv_seq) = target.ref_seq {
                let value = target.amount.unwrap_or(Decimal::ZERO);
                let mut invoice = st
                    .invoice(inv_seq)?
                    .ok_or_else(|| blocked(target, "no invoice row"))?;
                let mut contract = st
                    .contract(invoice.contract_seq)?
                    .ok_or_else(|| blocked(target, "no contract row"))?;
                invoice.paid = sub(invoice.paid, value)?;
                contract.paid = sub(contract.paid, value)?;
                st.save_invoice(&invoice)?;
                st.save_contract(&contract)?;
            }
            st.save_fund_position(&fp)?;
            st.save_ministry_position(&mp)?;
        }
        "tender" => {
            let mut tender = st
                .tender(target.seq)?
                .ok_or_else(|| blocked(target, "no tender row"))?;
            if tender.stage != "open" {
                return Err(blocked(target, &format!("it is {}", tender.stage)));
            }
            tender.stage = "cancelled".to_owned();
            st.save_tender(&tender)?;
        }
        "bid" => {
            let tender_seq = target.ref_seq.ok_or_else(|| blocked(target, "no tender"))?;
            let mut tender = st
                .tender(tender_seq)?
                .ok_or_else(|| blocked(target, "no tender row"))?;
            if tender.stage != "open" {
                return Err(blocked(target, &format!("its tender is {}", tender.stage)));
            }
            if let Some(d) = st
                .live_disqualifications(tender_seq, target.vendor_org_id)?
                .iter()
                .find(|d| d.bid_seq == target.seq)
            {
                return Err(blocked(
                    target,
                    &format!(
                        "it is disqualified by entry {}; reverse the disqualification first",
                        d.seq
                    ),
                ));
            }
            tender.bids = tender.bids.saturating_sub(1);
            st.save_tender(&tender)?;
        }
        "award" => {
            let tender_seq = target.ref_seq.ok_or_else(|| blocked(target, "no tender"))?;
            let mut tender = st
                .tender(tender_seq)?
                .ok_or_else(|| blocked(target, "no tender row"))?;
            if tender.stage != "awarded" || tender.award_seq != Some(target.seq) {
                return Err(blocked(target, "a contract was signed on it"));
            }
            tender.stage = "open".to_owned();
            tender.award_seq = None;
            st.save_tender(&tender)?;
        }
        "contract" => {
            let mut contract = st
                .contract(target.seq)?
                .ok_or_else(|| blocked(target, "no contract row"))?;
            if !contract.invoiced.is_zero() {
                return Err(blocked(target, "it has invoices; reverse them first"));
            }
            if contract.amendments > 0 {
                return Err(blocked(target, "it has amendments; reverse them first"));
            }
            let mut tender = st
                .tender(contract.tender_seq)?
                .ok_or_else(|| blocked(target, "no tender row"))?;
            contract.reversed = true;
            tender.stage = "awarded".to_owned();
            st.save_contract(&contract)?;
            st.save_tender(&tender)?;
        }
        "contract_amendment" => {
            let mut amendment = st
                .amendment(target.seq)?
                .ok_or_else(|| blocked(target, "no amendment row"))?;
            let latest = st.latest_amendment(amendment.contract_seq)?;
            if latest.map(|l| l.seq) != Some(amendment.seq) {
                return Err(blocked(
                    target,
                    "a later amendment of the contract stands; reverse it first",
                ));
            }
            let mut contract = st
                .contract(amendment.contract_seq)?
                .ok_or_else(|| blocked(target, "no contract row"))?;
            // Like an amendment: undoing a raise may not lower the value below what is
            // already invoiced (undoing a reduction is always allowed).
            if amendment.old_value < contract.value && contract.invoiced > amendment.old_value {
                return Err(blocked(
                    target,
                    "it would lower the contract below what is already invoiced",
                ));
            }
            contract.value = amendment.old_value;
            contract.starts_on = amendment.old_starts_on;
            contract.ends_on = amendment.old_ends_on;
            contract.amendments = contract.amendments.saturating_sub(1);
            amendment.reversed = true;
            st.save_contract(&contract)?;
            st.save_amendment(&amendment)?;
        }
        "invoice" => {
            let mut invoice = st
                .invoice(target.seq)?
                .ok_or_else(|| blocked(target, "no invoice row"))?;
            if !invoice.paid.is_zero() {
                return Err(blocked(target, "it has payments; reverse them first"));
            }
            let mut contract = st
                .contract(invoice.contract_seq)?
                .ok_or_else(|| blocked(target, "no contract row"))?;
            contract.invoiced = sub(contract.invoiced, invoice.amount)?;
            invoice.reversed = true;
            st.save_invoice(&invoice)?;
            st.save_contract(&contract)?;
        }
        "bid_disqualified" => {
            let mut d = st
                .bid_disqualification(target.seq)?
                .ok_or_else(|| blocked(target, "no disqualification row"))?;
            let tender = st
                .tender(d.tender_seq)?
                .ok_or_else(|| blocked(target, "no tender row"))?;
            if tender.stage != "open" {
                return Err(blocked(target, &format!("its tender is {}", tender.stage)));
            }
            d.reversed = true;
            st.save_bid_disqualification(&d)?;
        }
        "approval" => {
            let mut a = st
                .approval(target.seq)?
                .ok_or_else(|| blocked(target, "no approval row"))?;
            a.reversed = true;
            st.save_approval(&a)?;
        }
        other => return Err(blocked(target, &format!("unknown kind {other}"))),
    }
    Ok(())
}
