//! `mcpgate`: the management API and the MCP gateway (`mcpgate serve`), and
//! `mcpgate analytics`. The command line lives in `mcpgate::cli`.

// The gateway allocates per request (JSON values, headers); mimalloc keeps
// that off the critical path far better than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    mcpgate::cli::main()
}
