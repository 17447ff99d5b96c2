// Decoding the PNGs Baton draws (view/plots.h), to check them by their pixels: size, not blank,
// and the curve's colour where the data puts it.
#pragma once

#include <cairo.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace baton::testing {

struct DecodedPng {
  int width = 0, height = 0;
  std::vector<uint32_t> pixels;  // 0xRRGGBB, row by row
  bool ok = false;
  uint32_t At(int x, int y) const { return pixels[static_cast<size_t>(y) * width + x]; }
};

// Decodes PNG bytes with cairo (cairo_image_surface_create_from_png_stream); ok is false when
// they are not a PNG.
inline DecodedPng DecodePng(const std::string& bytes) {
  struct Reader {
    const std::string* data;
    size_t at = 0;
  } reader{&bytes};
  auto read = [](void* closure, unsigned char* out, unsigned int length) -> cairo_status_t {
    auto* r = static_cast<Reader*>(closure);
    if (r->at + length > r->data->size()) return CAIRO_STATUS_READ_ERROR;
    std::memcpy(out, r->data->data() + r->at, length);
    r->at += length;
    return CAIRO_STATUS_SUCCESS;
  };
  DecodedPng png;
  cairo_surface_t* s = cairo_image_surface_create_from_png_stream(read, &reader);
  if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
    cairo_surface_flush(s);
    png.width = cairo_image_surface_get_width(s);
    png.height = cairo_image_surface_get_height(s);
    const int stride = cairo_image_surface_get_stride(s);
    const unsigned char* data = cairo_image_surface_get_data(s);
    for (int y = 0; y < png.height; ++y) {
      const auto* row = reinterpret_cast<const uint32_t*>(data + static_cast<size_t>(y) * stride);
      for (int x = 0; x < png.width; ++x) png.pixels.push_back(row[x] & 0xFFFFFF);
    }
    png.ok = true;
  }
  cairo_surface_destroy(s);
  return png;
}

// Each channel within `tolerance`.
inline bool NearColour(uint32_t a, uint32_t b, int tolerance = 24) {
  for (int shift : {16, 8, 0}) {
    int d = static_cast<int>((a >> shift) & 0xFF) - static_cast<int>((b >> shift) & 0xFF);
    if (std::abs(d) > tolerance) return false;
  }
  return true;
}

// Whether a pixel within `radius` pixels of (x, y) has about the colour `rgb`.
inline bool ColourAround(const DecodedPng& png, double x, double y, uint32_t rgb, int radius = 2) {
  const int cx = static_cast<int>(std::lround(x)), cy = static_cast<int>(std::lround(y));
  for (int dy = -radius; dy <= radius; ++dy) {
    for (int dx = -radius; dx <= radius; ++dx) {
      int px = cx + dx, py = cy + dy;
      if (px < 0 || py < 0 || px >= png.width || py >= png.height) continue;
      if (NearColour(png.At(px, py), rgb)) return true;
    }
  }
  return false;
}

// Whether a point's mark (a disc of radius 3.5, view/plots.cc) is centred within about a pixel
// of (x, y): its centre and the four pixels 2 away all have about the colour `rgb`.
inline bool MarkAt(const DecodedPng& png, double x, double y, uint32_t rgb) {
  return ColourAround(png, x, y, rgb, 0) && ColourAround(png, x - 2, y, rgb, 0) &&
         ColourAround(png, x + 2, y, rgb, 0) && ColourAround(png, x, y - 2, rgb, 0) &&
         ColourAround(png, x, y + 2, rgb, 0);
}

inline size_t CountPixels(const DecodedPng& png, uint32_t rgb, int tolerance = 24) {
  size_t n = 0;
  for (uint32_t p : png.pixels) n += NearColour(p, rgb, tolerance) ? 1 : 0;
  return n;
}

}  // namespace baton::testing
