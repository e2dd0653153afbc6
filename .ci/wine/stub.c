/* bcryptprimitives.dll for Wine releases that lack it: Rust's std imports
 * ProcessPrng from it. This stub answers with RtlGenRandom (SystemFunction036 of
 * advapi32), which Wine has.
 *
 * Build: x86_64-w64-mingw32-gcc -O2 -shared -o bcryptprimitives.dll stub.c stub.def -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    return SystemFunction036(data, (ULONG)len);
}
