// Stack buffers on hot paths (request-key hashing) are fully written before they are read;
// zeroing them first is wasted work.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
