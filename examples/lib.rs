//! Runnable examples of the spv library (see the `[[example]]` targets of this package) and
//! the sample documents in `docs/`.
//!
//! ```sh
//! cargo run -p spv-examples --example batch -- examples/docs out/
//! ```
