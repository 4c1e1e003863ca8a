//! `terraform-provider-mcp`: the Terraform provider for mcpgate. Terraform
//! starts it; `--debug` runs it standalone for a debugger. The process lives
//! in `mcpgate::provider::plugin`.

fn main() -> std::process::ExitCode {
    mcpgate::provider::plugin::main()
}
