//! Durable jobs (placeholder until the store has a jobs table).
use super::AppState;
pub fn spawn(_app: AppState) {}
