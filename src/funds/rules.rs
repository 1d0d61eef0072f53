//! The invariants of the fund-flow kinds and the derived state they change (docs/domain.md):
//! donors' pledges and contributions raise the fund's position, allocations commit budget
//! to a ministry, a disbursement may not exceed its allocation nor the fund's available
//! balance, expenditure is reported by a ministry for itself. Each function runs inside the
//! append transaction (`entries::effect`), and again with no actor when `fundtrail rebuild`
//! replays the chain; `undo` is what a reversal of each kind does.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::ctx::{
    add, blocked, own_ministry, reject, require_org, row, seq_i64, sub, to_fund, unknown,
    with_money, FundCtx, Posting, Result,
};
use super::derived::Derived;
use super::kinds::{Allocation, Disbursement, Expenditure, FxRate};
use super::state::{self, FundEntryRow};
use crate::money::Money;

/// A pledge (`pledge`) or a contribution received from `donor`.
pub fn donor_flow(
    st: &mut Derived<'_>,
    p: &Posting<'_>,
    donor: Uuid,
    amount: &Money,
    pledge: bool,
) -> Result<()> {
    let Posting {
        ctx, actor, date, ..
    } = *p;
    let s = p.seq_i64()?;
    require_org(st, actor, donor, "donor", "donor")?;
    let amt = to_fund(st, ctx, amount, date)?;
    let mut fp = st.fund_position()?;
    let mut dp = st.donor_position(donor)?;
    if pledge {
        fp.pledged = add(fp.pledged, amt)?;
        dp.pledged = add(dp.pledged, amt)?;
    } else {
        fp.received = add(fp.received, amt)?;
        dp.received = add(dp.received, amt)?;
    }
    st.save_fund_position(&fp)?;
    st.save_donor_position(&dp)?;
    let mut r = with_money(
        row(ctx, s, if pledge { "pledge" } else { "contribution" }, date),
        amount,
        amt,
    );
    r.donor_org_id = Some(donor);
    st.save_entry(&r)?;
    Ok(())
}

pub fn allocation(st: &mut Derived<'_>, p: &Posting<'_>, a: &Allocation) -> Result<()> {
    let Posting {
        ctx, actor, date, ..
    } = *p;
    let s = p.seq_i64()?;
    let fund = p.ctx.fund;
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
    Ok(())
}

pub fn disbursement(st: &mut Derived<'_>, p: &Posting<'_>, d: &Disbursement) -> Result<()> {
    let Posting { ctx, date, .. } = *p;
    let s = p.seq_i64()?;
    let _fund = p.ctx.fund;
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
    Ok(())
}

pub fn fx_rate(st: &mut Derived<'_>, p: &Posting<'_>, x: &FxRate) -> Result<()> {
    let Posting { ctx, date, .. } = *p;
    let s = p.seq_i64()?;
    let fund = p.ctx.fund;
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
    Ok(())
}

pub fn expenditure(st: &mut Derived<'_>, p: &Posting<'_>, e: &Expenditure) -> Result<()> {
    let Posting {
        ctx, actor, date, ..
    } = *p;
    let s = p.seq_i64()?;
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
    Ok(())
}

/// Undoes what `target` did to the derived state, when a reversal of it is applied; refuses
/// (`reversal_blocked`) while later entries still depend on it.
pub fn undo(st: &mut Derived<'_>, ctx: &FundCtx, target: &FundEntryRow) -> Result<()> {
    let amt = target.amount_fund.unwrap_or(Decimal::ZERO);
    match target.kind.as_str() {
        "pledge" | "contribution" => {
            let donor = target
                .donor_org_id
                .ok_or_else(|| blocked(target, "no donor"))?;
            let mut fp = st.fund_position()?;
            let mut dp = st.donor_position(donor)?;
            if target.kind == "pledge" {
                fp.pledged = sub(fp.pledged, amt)?;
                dp.pledged = sub(dp.pledged, amt)?;
            } else {
                if amt > fp.available() {
                    return Err(blocked(
                        target,
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
                .ok_or_else(|| blocked(target, "no allocation row"))?;
            if !alloc.disbursed_fund.is_zero() {
                return Err(blocked(target, "it has disbursements; reverse them first"));
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
                .ok_or_else(|| blocked(target, "no allocation"))?;
            let mut alloc = st
                .allocation(alloc_seq)?
                .ok_or_else(|| blocked(target, "no allocation row"))?;
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
                .ok_or_else(|| blocked(target, "no rate row"))?;
            rate.reversed = true;
            st.save_fx_rate(&rate)?;
        }
        "expenditure" => {
            let ministry = target
                .ministry_org_id
                .ok_or_else(|| blocked(target, "no ministry"))?;
            let mut fp = st.fund_position()?;
            let mut mp = st.ministry_position(ministry)?;
            fp.expended = sub(fp.expended, amt)?;
            mp.expended = sub(mp.expended, amt)?;
            st.save_fund_position(&fp)?;
            st.save_ministry_position(&mp)?;
        }
        other => return Err(blocked(target, &format!("unknown kind {other}"))),
    }
    Ok(())
}
