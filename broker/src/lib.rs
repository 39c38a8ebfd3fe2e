//! The broker. Work in progress.
