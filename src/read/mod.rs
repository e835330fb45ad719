//! Read models: pure functions from the domain's state and events to what people read.

pub mod audit;
pub mod comments;
pub mod digest;
pub mod export;
pub mod import;
pub mod time_spent;
pub mod timeline;
pub mod view;
