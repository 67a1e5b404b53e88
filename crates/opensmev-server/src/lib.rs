//! The OpenSMEV server: the SOAP endpoints of SMEV 3 (schemas 1.1, 1.2, 1.3 side by side) over the
//! bus core, configuration, and demo mode.
//!
//! The server is a library: [`Application::build`] opens the store, loads keys and the registry
//! and builds the router; [`Application::run`] serves a bound listener until a shutdown future
//! completes. The binary (`opensmev serve`) only parses flags and calls these. Tests start it on
//! port 0.

pub mod config;
pub mod demo;
pub mod store;

mod access;
mod app;
mod body;
mod budget;
mod faults;
mod notify;
mod serve;
mod soap;

pub use app::{AppError, Application, BuildOptions, RegistryAtStart};
