fn main() -> std::process::ExitCode {
    fundtrail::cli::run()
}
