//! weatherlog: current weather with a five-minute Redis cache, and a weather log in MongoDB.
//!
//! Code tour, in the order the commit history builds it:
//! 1. [`domain`]: the validated input types and our weather schema.

pub mod domain;
