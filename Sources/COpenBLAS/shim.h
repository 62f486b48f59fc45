#include <cblas.h>
// Threads OpenBLAS uses for one call; the engine sets it from --threads.
void openblas_set_num_threads(int num_threads);
