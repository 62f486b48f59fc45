#include <cblas.h>
// Threads OpenBLAS uses for one call; the engine sets it from --threads.
void openblas_set_num_threads(int num_threads);
// The kernel family OpenBLAS chose for this CPU when it loaded ("Haswell", "SkylakeX", "Prescott").
char *openblas_get_corename(void);
