import Testing
@testable import CRDT

#if os(Linux)
/// glibc's size of a heap block (not exported by the Glibc module).
@_silgen_name("malloc_usable_size")
private func mallocUsableSize(_ pointer: UnsafeMutableRawPointer) -> Int
#endif

/// A loaded text document is mostly items: their size is the document's
/// resident cost, so a field that silently grows them should fail here.
@Suite("item layout")
struct ItemLayoutTests {
    @Test("item content is one word plus a tag")
    func contentSize() {
        #expect(MemoryLayout<ItemContent>.size <= 9)
    }

    @Test("an item fits a 144-byte heap block")
    func itemSize() {
        let item = Item(id: ID(client: 1, clock: 0), left: nil, origin: nil, right: nil, rightOrigin: nil,
                        parent: nil, parentSub: nil, content: .string([0x61]))
        #if os(Linux)
        let block = mallocUsableSize(Unmanaged.passUnretained(item).toOpaque())
        #expect(block <= 136, "item heap block is \(block) bytes")
        #endif
        withExtendedLifetime(item) {}
    }

    @Test("absent and present origins round-trip, including client 0 and large ids")
    func originsRoundTrip() {
        let ids: [ID?] = [nil, ID(client: 0, clock: 0), ID(client: 2654435769, clock: 7), ID(client: (1 << 53) - 1, clock: 1 << 40)]
        for o in ids {
            for r in ids {
                let item = Item(id: ID(client: 3, clock: 0), left: nil, origin: o, right: nil, rightOrigin: r,
                                parent: nil, parentSub: nil, content: .deleted(1))
                #expect(item.origin == o && item.rightOrigin == r)
                item.origin = r
                item.rightOrigin = o
                #expect(item.origin == r && item.rightOrigin == o)
            }
        }
    }
}
