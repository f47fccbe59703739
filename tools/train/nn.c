/* tools/train/nn.c: the layers in float (training) and double (gradient checks). */
#include "nn.h"

#include <tgmath.h> /* exp and sqrt follow REAL: expf for the float build */

#define REAL float
#define SFX f
#include "nn_impl.h"
#undef REAL
#undef SFX

#define REAL double
#define SFX d
#include "nn_impl.h"
#undef REAL
#undef SFX
