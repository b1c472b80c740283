//! The workshop's tool. [`model`] reads every exercise once from the solutions' comments;
//! everything else is derived from it: the starters ([`starter`], [`generate`]), the book's
//! generated includes ([`book`]), and the tests of the core path and of each exercise's
//! `Needs:` ([`verify`]). `src/main.rs` is the command line the scripts call.

pub mod book;
pub mod generate;
pub mod model;
pub mod starter;
pub mod switch;
pub mod verify;
