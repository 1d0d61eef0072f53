//! Webhook notifications (docs/notifications.md): subscribers of a fund are told, by a
//! signed HTTP POST, about flags raised and triaged, approvals waiting, imports finished
//! and integrity alarms.
//!
//! - `events`: the event types, who may receive each, and the `emit` functions that write
//!   an event to the outbox (`webhook_events`) on the caller's connection, so that an
//!   event caused by an append commits or rolls back with it;
//! - `sign`: the Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature: v1,<base64 HMAC-SHA256>`, secrets `whsec_<base64>`);
//! - `store`: the only SQL over the webhook tables;
//! - `deliver`: the worker `serve` runs after commit: fan-out of events to the
//!   subscriptions that may see them, delivery with retries and exponential backoff plus
//!   jitter, the attempt log; several processes share the work (`FOR UPDATE SKIP LOCKED`);
//! - `ssrf`: where deliveries may go: no loopback, link-local, private, multicast or
//!   unspecified address, checked at subscription and again after resolution at every
//!   delivery, unless the operator allows them;
//! - `http`: the subscription API (create, list, delete, rotate the secret, send a test
//!   event, the delivery log).

pub mod deliver;
pub mod events;
pub mod http;
pub mod sign;
pub mod ssrf;
pub mod store;
