// A C++ consumer of the installed libcontrast.hpp: the same forward pass through the wrapper.
#include <libcontrast/libcontrast.hpp>

#include <cstdio>
#include <vector>

int main()
{
    lct::Runtime rt(1, 0);
    lct::Encoder enc(rt, "in 8; linear 4; l2norm");
    std::vector<float> x(2 * 8, 0.5f), y(2 * 4);
    if (!enc || !enc.forward(x, 2, y)) {
        std::fprintf(stderr, "app_cpp: %s\n", lct_error_last());
        return 1;
    }
    std::printf("libcontrast %s from C++: y[0] = %.4f\n", lct_version_string(), static_cast<double>(y[0]));
    return 0;
}
