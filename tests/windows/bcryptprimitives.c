/* A stand-in for Windows' bcryptprimitives.dll, for running the Windows build under Wine.
 *
 * Rust's standard library takes its random bytes from ProcessPrng in bcryptprimitives.dll
 * (Windows 10 and later). Debian's Wine 8.0 has no such export, so the .exe does not load.
 * This DLL exports ProcessPrng and forwards it to RtlGenRandom (SystemFunction036 of
 * advapi32), which Wine has. It is built by scripts/windows-smoke and placed beside the .exe
 * under test only; it is never shipped and never needed on Windows itself.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x80000000u ? 0x80000000u : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
