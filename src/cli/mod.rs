//! Command-line glue: clap definitions and one module per subcommand.
//! No core logic lives here; every subcommand calls into the library.
pub mod fmt;
