//! The realtime core: live rooms and their single writer, the registry, the scheduler and its
//! reactions, the cluster feed, webhook delivery, replay from the log and moving a log between
//! databases. Independent of transport: it takes commands and publishes JSON.

pub mod addresses;
pub mod app;
pub mod auth;
pub mod clock;
pub mod cluster;
pub mod commands;
pub mod feed;
pub mod history;
pub mod joins;
pub mod metrics;
pub mod process;
pub mod rate;
pub mod registry;
pub mod replay;
pub mod room;
pub mod scheduler;
pub mod tracker;
pub mod transfer;
pub mod views;
pub mod webhook;
pub mod writer;
