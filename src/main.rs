/// mimalloc instead of glibc's malloc: the writer thread of a chain allocates what HTTP
/// threads free (entries, receipts), and `perf` put a third of that thread's time in
/// glibc's malloc, free and arena locks (docs/dependencies.md, docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    fundtrail::cli::run()
}
