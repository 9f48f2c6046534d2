// Precompiled for every target of model/ and tests/model/: libtorch's headers
// are parsed once per target instead of once per file.
#include <torch/torch.h>
