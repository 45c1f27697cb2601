#ifndef CHEAPINFO_H
#define CHEAPINFO_H
#include <stddef.h>
/// Bytes currently allocated through malloc (glibc mallinfo2), or 0 elsewhere.
size_t nest_heap_in_use(void);
/// Returns freed heap memory to the system where the allocator supports it.
void nest_heap_trim(void);
#endif
