//! Procurement as its readers see it: vendors (organisations a ministry may register) and
//! a contract with its whole history. The procurement entries themselves (tender, bid,
//! award, contract, amendment, invoice, payment) are fund entry kinds (`funds::kinds`).

pub mod http;
