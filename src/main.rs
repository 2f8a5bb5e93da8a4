//! The `manifold` binary: parse the command line, hand over to the library
//! (which starts the async runtime once the settings are read).

use std::process::ExitCode;

use clap::Parser;

/// jemalloc, not glibc's malloc: a proxied call allocates on one worker
/// thread and frees on the other, which costs glibc an arena lock (and
/// often a futex wake-up) where jemalloc's per-thread caches take it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read once at start (`_RJEM_MALLOC_CONF` in the
/// environment overrides them): a background thread gives pages freed for
/// a second back to the system, so memory comes back after sessions sleep
/// or end (with jemalloc's defaults a sleeping session kept ~70 KiB).
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8] =
    b"background_thread:true,max_background_threads:1,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> ExitCode {
    manifold::cli::Cli::parse().run()
}
