/// mimalloc instead of glibc's malloc: the writer thread of a chain allocates what HTTP
/// threads free (entries, receipts), and `perf` put a third of that thread's time in
/// glibc's malloc, free and arena locks (docs/dependencies.md, docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // libpq asks every new connection for GSSAPI encryption unless told otherwise, which
    // initialises Kerberos; the pool opens connections from several threads at once, and
    // concurrent Kerberos initialisation in libpq clients is reported to crash (a heap
    // corruption abort). fundtrail's connections use passwords or trust, so GSSAPI
    // encryption is off unless the URL (`gssencmode=`) or `PGGSSENCMODE` asks for it.
    if std::env::var_os("PGGSSENCMODE").is_none() {
        // Before any other thread exists: nothing reads the environment concurrently.
        std::env::set_var("PGGSSENCMODE", "disable");
    }
    fundtrail::cli::run()
}
