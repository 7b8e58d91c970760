//! pxebake: compile an inventory and templates into a complete, verified network-boot tree.
//!
//! Data flows one way: inventory (load + validate) -> render (plan a `Tree` in memory) ->
//! check (lint the plan) -> tree::write (atomic, incremental). Nothing below `main` exits.

pub mod bake;
pub mod butane;
pub mod check;
pub mod cli;
pub mod deploy;
pub mod diag;
pub mod discover;
pub mod events;
pub mod hostfile;
pub mod images;
pub mod input;
pub mod inventory;
pub mod list;
pub mod loader;
pub mod names;
pub mod networkd;
pub mod render;
pub mod report;
pub mod selector;
pub mod serve;
pub mod state;
pub mod tree;
pub mod yaml;
