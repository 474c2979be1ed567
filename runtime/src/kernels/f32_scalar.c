/*
 * f32_scalar.c — the portable float32 kernels (f32.h), the reference twin of every
 * ISA family: f32_kernels.inc compiled with the library's own flags.
 */
#include "f32.h"

#include "../internal.h"

#define F32_SUFFIX scalar
#include "f32_kernels.inc"

const irc_f32_family irc_f32_scalar = F32_FAMILY("scalar", IRC_ISA_SCALAR);
