//! The pure planning domain (being built).
