//! What a typed fund entry does: the invariants it must respect and the derived state it
//! changes (docs/domain.md). `apply` runs inside the append transaction of the fund's
//! chain (a writer `Effect`, so a refusal rolls back the entry and everything it wrote)
//! and again, with no actor, when `fundtrail rebuild` replays the chain.
//!
//! Every check reads state written by earlier entries of the same chain, and all writers
//! of a chain are serialised by its head row lock, so no two appends can both pass a check
//! that only one of them may pass (the 50-concurrent-disbursements test).

use chrono::NaiveDate;
use diesel::PgConnection;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::derived::Derived;
use super::kinds::{self, FundEntry};
use super::money::{Currency, Money};
use super::state::{self, FundEntryRow};
use crate::auth::guard::Role;
use crate::ledger::entry::Entry;
use crate::ledger::writer::{AppendError, Effect};

/// The fund an entry is appended to.
#[derive(Debug, Clone, Copy)]
pub struct FundCtx {
    pub fund: Uuid,
    pub currency: Currency,
}

/// Who posts: their organisation and role. `None` when replaying (rebuild), where what
/// was authorised at write time is not re-decided.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub org: Uuid,
    pub role: Role,
}

type Result<T> = std::result::Result<T, AppendError>;

fn reject(code: &'static str, detail: impl Into<String>) -> AppendError {
    AppendError::Rejected {
        code,
        detail: detail.into(),
    }
}

fn unknown(what: &str, seq: u64) -> AppendError {
    reject(
        "unknown_reference",
        format!("entry {seq} of this fund is not a {what} you can refer to"),
    )
}

fn seq_i64(seq: u64) -> Result<i64> {
    i64::try_from(seq).map_err(|_| reject("unknown_reference", format!("no entry {seq}")))
}

fn add(a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_add(b)
        .ok_or_else(|| reject("amount_out_of_range", "the total exceeds the decimal range"))
}

fn sub(a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_sub(b)
        .ok_or_else(|| reject("amount_out_of_range", "the total exceeds the decimal range"))
}

/// The roles that may post `kind` (reversals: the role that may post the reversed kind).
pub fn poster_of(kind: &str) -> Option<Role> {
    if kind == "reversal" {
        None
    } else if kind == "screening_config" {
        Some(Role::Auditor)
    } else if kinds::FUND_FLOW_KINDS.contains(&kind) {
        Some(Role::Treasurer)
    } else {
        Some(Role::Ministry)
    }
}

/// A ministry actor may only act for itself. References to another ministry's entries
/// read as unknown (the ministry cannot see them); naming another ministry is refused.
fn own_ministry(actor: Option<&Actor>, ministry: Uuid) -> Result<()> {
    match actor {
        Some(a) if a.role == Role::Ministry && a.org != ministry => Err(reject(
            "not_own_ministry",
            "a ministry records entries for itself only",
        )),
        _ => Ok(()),
    }
}

fn own_reference(actor: Option<&Actor>, ministry: Uuid, what: &str, seq: u64) -> Result<()> {
    match actor {
        Some(a) if a.role == Role::Ministry && a.org != ministry => Err(unknown(what, seq)),
        _ => Ok(()),
    }
}

/// `org` must be an organisation of `kind`: active when posting; when replaying (no
/// actor) merely existing, since it may have been deactivated after the entry.
fn require_org(
    st: &mut Derived<'_>,
    actor: Option<&Actor>,
    org: Uuid,
    kind: &str,
    field: &str,
) -> Result<()> {
    let found = st.org_kind(org, actor.is_some())?;
    match found {
        Some(k) if k == kind => Ok(()),
        Some(_) => Err(reject(
            "wrong_organization_kind",
            format!("{field} must be an organisation of kind {kind}"),
        )),
        None => Err(reject(
            "unknown_reference",
            format!("{field}: no active organisation {org}"),
        )),
    }
}

/// `money` in the fund's currency: as is, or converted at the rate recorded for the
/// business date (either direction), rounded half-to-even to the fund's minor unit.
pub fn to_fund(
    st: &mut Derived<'_>,
    ctx: &FundCtx,
    money: &Money,
    date: NaiveDate,
) -> Result<Decimal> {
    if money.currency == ctx.currency {
        return Ok(money.value);
    }
    let (from, to) = (money.currency.code(), ctx.currency.code());
    let converted = if let Some(rate) = st.rate_on(from, to, date)? {
        money.value.checked_mul(rate)
    } else if let Some(rate) = st.rate_on(to, from, date)? {
        money.value.checked_div(rate)
    } else {
        return Err(reject(
            "no_fx_rate",
            format!(
                "the fund holds {to}; record an fx_rate {from}/{to} for {date} before posting {money}"
            ),
        ));
    };
    converted.map(|v| ctx.currency.round(v)).ok_or_else(|| {
        reject(
            "amount_out_of_range",
            "the converted amount is out of range",
        )
    })
}

fn same_currency(expected: &str, got: &Money, what: &str) -> Result<()> {
    if got.currency.code() != expected {
        return Err(reject(
            "currency_mismatch",
            format!("{what} is in {expected}; got {}", got.currency),
        ));
    }
    Ok(())
}

/// The index row every entry gets.
fn row(ctx: &FundCtx, seq: i64, kind: &str, date: NaiveDate) -> FundEntryRow {
    FundEntryRow {
        fund_id: ctx.fund,
        seq,
        kind: kind.to_owned(),
        business_date: date,
        ..FundEntryRow::default()
    }
}

/// The item category of a tender: what its invoices and payments are spent on.
fn tender_category(st: &mut Derived<'_>, tender_seq: i64) -> Result<Option<String>> {
    Ok(st.entry(tender_seq)?.and_then(|t| t.category))
}

fn with_money(mut r: FundEntryRow, m: &Money, fund_amount: Decimal) -> FundEntryRow {
    r.currency = Some(m.currency.code().to_owned());
    r.amount = Some(m.value);
    r.amount_fund = Some(fund_amount);
    r
}

/// Checks `entry` against the fund's state and applies it. `seq` is its chain position;
/// `poster` the id of the user who posted it (the ledger entry's principal), which an
/// approval records.
pub fn apply(
    st: &mut Derived<'_>,
    ctx: &FundCtx,
    actor: Option<&Actor>,
    poster: &str,
    seq: u64,
    date: NaiveDate,
    entry: &FundEntry,
) -> Result<()> {
    let s = seq_i64(seq)?;
    let fund = ctx.fund;
    match entry {
        FundEntry::Pledge(kinds::Pledge { donor, amount, .. })
        | FundEntry::Contribution(kinds::Contribution { donor, amount, .. }) => {
            require_org(st, actor, *donor, "donor", "donor")?;
            let amt = to_fund(st, ctx, amount, date)?;
            let mut fp = st.fund_position()?;
            let mut dp = st.donor_position(*donor)?;
            if matches!(entry, FundEntry::Pledge(_)) {
                fp.pledged = add(fp.pledged, amt)?;
                dp.pledged = add(dp.pledged, amt)?;
            } else {
                fp.received = add(fp.received, amt)?;
                dp.received = add(dp.received, amt)?;
            }
            st.save_fund_position(&fp)?;
            st.save_donor_position(&dp)?;
            let mut r = with_money(row(ctx, s, entry.kind(), date), amount, amt);
            r.donor_org_id = Some(*donor);
            st.save_entry(&r)?;
        }
        FundEntry::Allocation(a) => {
            require_org(st, actor, a.ministry, "ministry", "ministry")?;
            let amt = to_fund(st, ctx, &a.amount, date)?;
            let mut fp = st.fund_position()?;
            let mut mp = st.ministry_position(a.ministry)?;
            fp.allocated = add(fp.allocated, amt)?;
            mp.allocated = add(mp.allocated, amt)?;
            st.save_fund_position(&fp)?;
            st.save_ministry_position(&mp)?;
            st.save_allocation(&state::AllocationRow {
                fund_id: fund,
                seq: s,
                ministry_org_id: a.ministry,
                budget_line: a.budget_line.clone(),
                category: a.category.clone(),
                amount_fund: amt,
                period_start: a.period_start,
                period_end: a.period_end,
                disbursed_fund: Decimal::ZERO,
                reversed: false,
            })?;
            let mut r = with_money(row(ctx, s, "allocation", date), &a.amount, amt);
            r.ministry_org_id = Some(a.ministry);
            r.category = Some(a.category.clone());
            st.save_entry(&r)?;
        }
        FundEntry::Disbursement(d) => {
            let mut alloc = st
                .allocation(seq_i64(d.allocation)?)?
                .filter(|a| !a.reversed)
                .ok_or_else(|| unknown("live allocation", d.allocation))?;
            let amt = to_fund(st, ctx, &d.amount, date)?;
            let remaining = sub(alloc.amount_fund, alloc.disbursed_fund)?;
            if amt > remaining {
                return Err(reject(
                    "allocation_exceeded",
                    format!(
                        "disbursing {amt} {} exceeds the {remaining} {} left of allocation {}",
                        ctx.currency, ctx.currency, d.allocation
                    ),
                ));
            }
            let mut fp = st.fund_position()?;
            if amt > fp.available() {
                return Err(reject(
                    "insufficient_fund_balance",
                    format!(
                        "disbursing {amt} {} exceeds the fund's available balance of {} {}",
                        ctx.currency,
                        fp.available(),
                        ctx.currency
                    ),
                ));
            }
            let mut mp = st.ministry_position(alloc.ministry_org_id)?;
            alloc.disbursed_fund = add(alloc.disbursed_fund, amt)?;
            fp.disbursed = add(fp.disbursed, amt)?;
            mp.disbursed = add(mp.disbursed, amt)?;
            st.save_allocation(&alloc)?;
            st.save_fund_position(&fp)?;
            st.save_ministry_position(&mp)?;
            let mut r = with_money(row(ctx, s, "disbursement", date), &d.amount, amt);
            r.ministry_org_id = Some(alloc.ministry_org_id);
            r.category = Some(alloc.category.clone());
            r.ref_seq = Some(alloc.seq);
            st.save_entry(&r)?;
        }
        FundEntry::FxRate(x) => {
            st.save_fx_rate(&state::FxRateRow {
                fund_id: fund,
                seq: s,
                base: x.base.code().to_owned(),
                quote: x.quote.code().to_owned(),
                rate_date: date,
                rate: x.rate,
                reversed: false,
            })?;
            st.save_entry(&row(ctx, s, "fx_rate", date))?;
        }
        FundEntry::Expenditure(e) => {
            own_ministry(actor, e.ministry)?;
            require_org(st, actor, e.ministry, "ministry", "ministry")?;
            let amt = to_fund(st, ctx, &e.amount, date)?;
            let mut fp = st.fund_position()?;
            let mut mp = st.ministry_position(e.ministry)?;
            fp.expended = add(fp.expended, amt)?;
            mp.expended = add(mp.expended, amt)?;
            st.save_fund_position(&fp)?;
            st.save_ministry_position(&mp)?;
            let mut r = with_money(row(ctx, s, "expenditure", date), &e.amount, amt);
            r.ministry_org_id = Some(e.ministry);
            r.category = Some(e.category.clone());
            st.save_entry(&r)?;
        }
        FundEntry::Tender(t) => {
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
            })?;
            let mut r = with_money(row(ctx, s, "tender", date), &t.estimated_value, amt);
            r.ministry_org_id = Some(t.ministry);
            r.category = Some(t.category.clone());
            r.tender_seq = Some(s);
            st.save_entry(&r)?;
        }
        FundEntry::Bid(b) => {
            let mut tender = open_tender(st, actor, b.tender)?;
            require_org(st, actor, b.vendor, "vendor", "vendor")?;
            let amt = to_fund(st, ctx, &b.amount, date)?;
            tender.bids = tender.bids.saturating_add(1);
            st.save_tender(&tender)?;
            let mut r = with_money(row(ctx, s, "bid", date), &b.amount, amt);
            r.ministry_org_id = Some(tender.ministry_org_id);
            r.vendor_org_id = Some(b.vendor);
            r.ref_seq = Some(tender.seq);
            r.tender_seq = Some(tender.seq);
            st.save_entry(&r)?;
        }
        FundEntry::Award(a) => {
            let mut tender = open_tender(st, actor, a.tender)?;
            require_org(st, actor, a.vendor, "vendor", "vendor")?;
            if tender.method != kinds::Method::Direct.as_str()
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
            // Whatever the method: a vendor ruled out of this tender cannot win it.
            if let Some(d) = st
                .live_disqualifications(tender.seq, Some(a.vendor))?
                .first()
            {
                return Err(reject(
                    "vendor_disqualified",
                    format!(
                        "bid {} of this vendor on tender {} was disqualified by entry {}",
                        d.bid_seq, a.tender, d.seq
                    ),
                ));
            }
            let amt = to_fund(st, ctx, &a.amount, date)?;
            tender.stage = "awarded".to_owned();
            tender.award_seq = Some(s);
            st.save_tender(&tender)?;
            let mut r = with_money(row(ctx, s, "award", date), &a.amount, amt);
            r.ministry_org_id = Some(tender.ministry_org_id);
            r.vendor_org_id = Some(a.vendor);
            r.ref_seq = Some(tender.seq);
            r.tender_seq = Some(tender.seq);
            st.save_entry(&r)?;
        }
        FundEntry::Contract(c) => {
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
            if tender.stage != "awarded" || tender.award_seq != Some(award.seq) {
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
        }
        FundEntry::ContractAmendment(a) => {
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
        }
        FundEntry::Invoice(i) => {
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
        }
        FundEntry::Payment(p) => {
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
        }
        FundEntry::BidDisqualified(d) => {
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
            if tender.stage != "open" {
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
        }
        FundEntry::Approval(a) => {
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
        }
        FundEntry::Reversal(rev) => reverse(st, ctx, actor, s, date, rev)?,
        FundEntry::ScreeningConfig(c) => {
            st.flush()?;
            let current = state::thresholds(st.conn, fund)?.unwrap_or_default();
            let mut merged =
                serde_json::to_value(&current).map_err(|e| AppendError::Internal(e.into()))?;
            if let Some(obj) = merged.as_object_mut() {
                for (name, value) in &c.settings {
                    if !obj.contains_key(name) {
                        return Err(reject(
                            "unknown_setting",
                            format!("{name:?} is not a screening setting (docs/screening.md)"),
                        ));
                    }
                    obj.insert(name.clone(), value.clone());
                }
            }
            let next: crate::screening::rules::Thresholds = serde_json::from_value(merged)
                .map_err(|e| {
                    reject(
                        "invalid_setting",
                        format!("a setting has the wrong type: {e}"),
                    )
                })?;
            next.check().map_err(|e| reject("invalid_setting", e))?;
            state::save_thresholds(st.conn, fund, s, &next)?;
            st.save_entry(&row(ctx, s, "screening_config", date))?;
        }
    }
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

/// The id of the contract recorded at `seq` of `fund`'s chain: UUIDv5 in the fund's id as
/// namespace, so that a rebuild derives the same id.
pub fn contract_id(fund: Uuid, seq: u64) -> Uuid {
    Uuid::new_v5(&fund, seq.to_string().as_bytes())
}

fn blocked(target: &FundEntryRow, why: &str) -> AppendError {
    reject(
        "reversal_blocked",
        format!("{} {} cannot be reversed: {why}", target.kind, target.seq),
    )
}

fn reverse(
    st: &mut Derived<'_>,
    ctx: &FundCtx,
    actor: Option<&Actor>,
    s: i64,
    date: NaiveDate,
    rev: &kinds::Reversal,
) -> Result<()> {
    let mut target = st
        .entry(seq_i64(rev.entry)?)?
        .ok_or_else(|| unknown("fund entry", rev.entry))?;
    if let Some(a) = actor {
        // A ministry knows only its own entries: anything else reads as unknown.
        if a.role == Role::Ministry && target.ministry_org_id != Some(a.org) {
            return Err(unknown("fund entry", rev.entry));
        }
        if poster_of(&target.kind).is_some_and(|r| r != a.role) {
            return Err(reject(
                "not_permitted",
                format!(
                    "a {} entry is reversed by the role that records it",
                    target.kind
                ),
            ));
        }
    }
    if target.kind == "screening_config" {
        return Err(reject(
            "reversal_blocked",
            "screening thresholds are changed by a new screening_config entry, not reversed",
        ));
    }
    if target.kind == "reversal" {
        return Err(reject(
            "cannot_reverse_reversal",
            "a reversal cannot be reversed; record the original fact again",
        ));
    }
    if let Some(by) = target.reversed_by {
        return Err(reject(
            "already_reversed",
            format!("entry {} was already reversed by entry {by}", rev.entry),
        ));
    }
    let amt = target.amount_fund.unwrap_or(Decimal::ZERO);
    match target.kind.as_str() {
        "pledge" | "contribution" => {
            let donor = target
                .donor_org_id
                .ok_or_else(|| blocked(&target, "no donor"))?;
            let mut fp = st.fund_position()?;
            let mut dp = st.donor_position(donor)?;
            if target.kind == "pledge" {
                fp.pledged = sub(fp.pledged, amt)?;
                dp.pledged = sub(dp.pledged, amt)?;
            } else {
                if amt > fp.available() {
                    return Err(blocked(
                        &target,
                        &format!(
                            "only {} {} of the fund is undisbursed",
                            fp.available(),
                            ctx.currency
                        ),
                    ));
                }
                fp.received = sub(fp.received, amt)?;
                dp.received = sub(dp.received, amt)?;
            }
            st.save_fund_position(&fp)?;
            st.save_donor_position(&dp)?;
        }
        "allocation" => {
            let mut alloc = st
                .allocation(target.seq)?
                .ok_or_else(|| blocked(&target, "no allocation row"))?;
            if !alloc.disbursed_fund.is_zero() {
                return Err(blocked(&target, "it has disbursements; reverse them first"));
            }
            alloc.reversed = true;
            let mut fp = st.fund_position()?;
            let mut mp = st.ministry_position(alloc.ministry_org_id)?;
            fp.allocated = sub(fp.allocated, alloc.amount_fund)?;
            mp.allocated = sub(mp.allocated, alloc.amount_fund)?;
            st.save_allocation(&alloc)?;
            st.save_fund_position(&fp)?;
            st.save_ministry_position(&mp)?;
        }
        "disbursement" => {
            let alloc_seq = target
                .ref_seq
                .ok_or_else(|| blocked(&target, "no allocation"))?;
            let mut alloc = st
                .allocation(alloc_seq)?
                .ok_or_else(|| blocked(&target, "no allocation row"))?;
            let mut fp = st.fund_position()?;
            let mut mp = st.ministry_position(alloc.ministry_org_id)?;
            alloc.disbursed_fund = sub(alloc.disbursed_fund, amt)?;
            fp.disbursed = sub(fp.disbursed, amt)?;
            mp.disbursed = sub(mp.disbursed, amt)?;
            st.save_allocation(&alloc)?;
            st.save_fund_position(&fp)?;
            st.save_ministry_position(&mp)?;
        }
        "fx_rate" => {
            let mut rate = st
                .fx_rate(target.seq)?
                .ok_or_else(|| blocked(&target, "no rate row"))?;
            rate.reversed = true;
            st.save_fx_rate(&rate)?;
        }
        "expenditure" | "payment" => {
            let ministry = target
                .ministry_org_id
                .ok_or_else(|| blocked(&target, "no ministry"))?;
            let mut fp = st.fund_position()?;
            let mut mp = st.ministry_position(ministry)?;
            if target.kind == "expenditure" {
                fp.expended = sub(fp.expended, amt)?;
                mp.expended = sub(mp.expended, amt)?;
            } else {
                fp.paid = sub(fp.paid, amt)?;
                mp.paid = sub(mp.paid, amt)?;
                if let Some(inv_seq) = target.ref_seq {
                    let value = target.amount.unwrap_or(Decimal::ZERO);
                    let mut invoice = st
                        .invoice(inv_seq)?
                        .ok_or_else(|| blocked(&target, "no invoice row"))?;
                    let mut contract = st
                        .contract(invoice.contract_seq)?
                        .ok_or_else(|| blocked(&target, "no contract row"))?;
                    invoice.paid = sub(invoice.paid, value)?;
                    contract.paid = sub(contract.paid, value)?;
                    st.save_invoice(&invoice)?;
                    st.save_contract(&contract)?;
                }
            }
            st.save_fund_position(&fp)?;
            st.save_ministry_position(&mp)?;
        }
        "tender" => {
            let mut tender = st
                .tender(target.seq)?
                .ok_or_else(|| blocked(&target, "no tender row"))?;
            if tender.stage != "open" {
                return Err(blocked(&target, &format!("it is {}", tender.stage)));
            }
            tender.stage = "cancelled".to_owned();
            st.save_tender(&tender)?;
        }
        "bid" => {
            let tender_seq = target
                .ref_seq
                .ok_or_else(|| blocked(&target, "no tender"))?;
            let mut tender = st
                .tender(tender_seq)?
                .ok_or_else(|| blocked(&target, "no tender row"))?;
            if tender.stage != "open" {
                return Err(blocked(&target, &format!("its tender is {}", tender.stage)));
            }
            if let Some(d) = st
                .live_disqualifications(tender_seq, target.vendor_org_id)?
                .iter()
                .find(|d| d.bid_seq == target.seq)
            {
                return Err(blocked(
                    &target,
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
            let tender_seq = target
                .ref_seq
                .ok_or_else(|| blocked(&target, "no tender"))?;
            let mut tender = st
                .tender(tender_seq)?
                .ok_or_else(|| blocked(&target, "no tender row"))?;
            if tender.stage != "awarded" || tender.award_seq != Some(target.seq) {
                return Err(blocked(&target, "a contract was signed on it"));
            }
            tender.stage = "open".to_owned();
            tender.award_seq = None;
            st.save_tender(&tender)?;
        }
        "contract" => {
            let mut contract = st
                .contract(target.seq)?
                .ok_or_else(|| blocked(&target, "no contract row"))?;
            if !contract.invoiced.is_zero() {
                return Err(blocked(&target, "it has invoices; reverse them first"));
            }
            if contract.amendments > 0 {
                return Err(blocked(&target, "it has amendments; reverse them first"));
            }
            let mut tender = st
                .tender(contract.tender_seq)?
                .ok_or_else(|| blocked(&target, "no tender row"))?;
            contract.reversed = true;
            tender.stage = "awarded".to_owned();
            st.save_contract(&contract)?;
            st.save_tender(&tender)?;
        }
        "contract_amendment" => {
            let mut amendment = st
                .amendment(target.seq)?
                .ok_or_else(|| blocked(&target, "no amendment row"))?;
            let latest = st.latest_amendment(amendment.contract_seq)?;
            if latest.map(|l| l.seq) != Some(amendment.seq) {
                return Err(blocked(
                    &target,
                    "a later amendment of the contract stands; reverse it first",
                ));
            }
            let mut contract = st
                .contract(amendment.contract_seq)?
                .ok_or_else(|| blocked(&target, "no contract row"))?;
            // Like an amendment: undoing a raise may not lower the value below what is
            // already invoiced (undoing a reduction is always allowed).
            if amendment.old_value < contract.value && contract.invoiced > amendment.old_value {
                return Err(blocked(
                    &target,
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
                .ok_or_else(|| blocked(&target, "no invoice row"))?;
            if !invoice.paid.is_zero() {
                return Err(blocked(&target, "it has payments; reverse them first"));
            }
            let mut contract = st
                .contract(invoice.contract_seq)?
                .ok_or_else(|| blocked(&target, "no contract row"))?;
            contract.invoiced = sub(contract.invoiced, invoice.amount)?;
            invoice.reversed = true;
            st.save_invoice(&invoice)?;
            st.save_contract(&contract)?;
        }
        "bid_disqualified" => {
            let mut d = st
                .bid_disqualification(target.seq)?
                .ok_or_else(|| blocked(&target, "no disqualification row"))?;
            let tender = st
                .tender(d.tender_seq)?
                .ok_or_else(|| blocked(&target, "no tender row"))?;
            if tender.stage != "open" {
                return Err(blocked(&target, &format!("its tender is {}", tender.stage)));
            }
            d.reversed = true;
            st.save_bid_disqualification(&d)?;
        }
        "approval" => {
            let mut a = st
                .approval(target.seq)?
                .ok_or_else(|| blocked(&target, "no approval row"))?;
            a.reversed = true;
            st.save_approval(&a)?;
        }
        other => return Err(blocked(&target, &format!("unknown kind {other}"))),
    }
    target.reversed_by = Some(s);
    st.save_entry(&target)?;
    // The reversal's index row mirrors the reversed entry with negated amounts, so that
    // sums over the index net out.
    let mut r = row(ctx, s, "reversal", date);
    r.ministry_org_id = target.ministry_org_id;
    r.vendor_org_id = target.vendor_org_id;
    r.donor_org_id = target.donor_org_id;
    r.category = target.category.clone();
    r.currency = target.currency.clone();
    r.amount = target.amount.map(|a| -a);
    r.amount_fund = target.amount_fund.map(|a| -a);
    r.ref_seq = Some(target.seq);
    r.tender_seq = target.tender_seq;
    Ok(st.save_entry(&r)?)
}

/// The writer effect of fund appends: parse each entry's typed body and apply it, then
/// screen the new entries (flags raised in the same transaction).
pub struct FundEffect {
    pub ctx: FundCtx,
    pub actor: Option<Actor>,
    /// Run the per-entry screens (off only to measure their cost).
    pub screen: bool,
}

impl Effect for FundEffect {
    fn apply(&self, conn: &mut PgConnection, entries: &[Entry]) -> Result<()> {
        // In the append transaction, with the fund row share-locked: no entry commits after
        // a deactivation did.
        let (active, config) = super::store::fund_active(conn, self.ctx.fund)?;
        if !active {
            return Err(reject(
                "fund_inactive",
                "the fund was deactivated; it takes no new entries",
            ));
        }
        let mut st = Derived::new(conn, self.ctx.fund);
        let typed = entries
            .iter()
            .map(|e| {
                FundEntry::parse(&e.kind, &e.body).map_err(|i| AppendError::Rejected {
                    code: i.code,
                    detail: i.detail,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        st.prefetch(&typed.iter().collect::<Vec<_>>())?;
        for (e, typed) in entries.iter().zip(&typed) {
            apply(
                &mut st,
                &self.ctx,
                self.actor.as_ref(),
                &e.principal.id,
                e.seq,
                e.business_date,
                typed,
            )
            .map_err(|err| match err {
                // Say which entry of a batch was refused.
                AppendError::Rejected { code, detail } if entries.len() > 1 => {
                    AppendError::Rejected {
                        code,
                        detail: format!("entry {} ({}): {detail}", e.idempotency_key, e.kind),
                    }
                }
                other => other,
            })?;
        }
        st.flush()?;
        if self.screen {
            let started = std::time::Instant::now();
            let screen = || -> Result<usize> {
                // The thresholds read with the fund, unless the job changed them.
                let thresholds = if entries.iter().any(|e| e.kind == "screening_config") {
                    state::thresholds(st.conn, self.ctx.fund)?
                } else {
                    config.and_then(|c| serde_json::from_value(c).ok())
                }
                .unwrap_or_default();
                Ok(crate::screening::raise::raise(
                    &mut st,
                    &self.ctx,
                    entries,
                    &typed,
                    &thresholds,
                )?)
            };
            let screened = screen();
            // Counted whether or not the job goes on to commit: the time was spent.
            crate::screening::spent::record(started, true);
            screened?;
        } else {
            crate::screening::flows::forget(self.ctx.fund);
        }
        Ok(())
    }

    fn committed(&self, chain_size: u64) {
        if self.screen {
            let started = std::time::Instant::now();
            crate::screening::flows::promote(self.ctx.fund, chain_size);
            crate::screening::spent::record(started, false);
        }
    }

    fn rolled_back(&self) {
        crate::screening::flows::forget(self.ctx.fund);
    }
}
