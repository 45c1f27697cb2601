/// Gives the allocator's free pages back to the system.
///
/// A burst (thousands of connections set up at once, a join storm) leaves
/// glibc's heap with free pages it keeps mapped; without this, the server's
/// resident memory stays at the burst's peak while it serves idle connections.
enum HeapTrim {
    static func returnFreePages() {
        #if os(Linux)
        _ = mallocTrim(0)
        #endif
    }
}

#if os(Linux)
/// glibc's `malloc_trim` (not exported by the Glibc module).
@_silgen_name("malloc_trim")
private func mallocTrim(_ pad: Int) -> Int32
#endif
