#include "view/plots.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "fmt/format.h"

namespace baton::view {
namespace {

constexpr size_t kMaxBars = 200;

struct CairoDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};
using Surface = std::unique_ptr<cairo_surface_t, CairoDeleter>;
using Context = std::unique_ptr<cairo_t, CairoDeleter>;

void SetColour(cairo_t* cr, uint32_t rgb, double alpha = 1) {
  cairo_set_source_rgba(cr, ((rgb >> 16) & 0xFF) / 255.0, ((rgb >> 8) & 0xFF) / 255.0,
                        (rgb & 0xFF) / 255.0, alpha);
}

// A colour mixed with white: share 0 is the colour, 1 is white.
uint32_t Lighter(uint32_t rgb, double share) {
  auto mix = [&](int shift) {
    double c = (rgb >> shift) & 0xFF;
    return static_cast<uint32_t>(std::lround(c + (255 - c) * share)) << shift;
  };
  return mix(16) | mix(8) | mix(0);
}

// A blank white canvas with the toy font set.
Result<std::pair<Surface, Context>> Canvas(int width, int height) {
  if (width < 200 || height < 150 || width > 8000 || height > 8000) {
    return InvalidArgument("plot size {}x{}: expected 200x150 to 8000x8000 pixels", width, height);
  }
  Surface surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height));
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) {
    return Internal("cairo: {}", cairo_status_to_string(cairo_surface_status(surface.get())));
  }
  Context cr(cairo_create(surface.get()));
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_paint(cr.get());
  // The toy API: fontconfig picks the system's sans face (Debian: DejaVu Sans).
  cairo_select_font_face(cr.get(), "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  return std::make_pair(std::move(surface), std::move(cr));
}

cairo_status_t AppendToString(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

Result<std::string> EncodePng(cairo_surface_t* surface) {
  cairo_surface_flush(surface);
  std::string png;
  cairo_status_t s = cairo_surface_write_to_png_stream(surface, AppendToString, &png);
  if (s != CAIRO_STATUS_SUCCESS)
    return Internal("cairo: encoding the PNG: {}", cairo_status_to_string(s));
  return png;
}

// Text with its anchor at (x, y): align 0 left, 0.5 centre, 1 right; y is the text's middle.
void Text(cairo_t* cr, const std::string& s, double x, double y, double align, double size) {
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_move_to(cr, x - e.x_advance * align, y + size * 0.35);
  cairo_show_text(cr, s.c_str());
}

// About `n` round tick values (1, 2 or 5 times a power of ten apart, at least `min_step`)
// within [lo, hi].
std::vector<double> Ticks(double lo, double hi, int n, double* step_out, double min_step = 0) {
  double raw = std::max((hi - lo) / std::max(n, 1), min_step);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  *step_out = step;
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9 && ticks.size() < 50;
       t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

// About `n` ticks for a time axis in seconds, at whole minutes or hours (1, 2, 5, 10, 15, 20, 30
// minutes; 1, 2, 3, 6, 12 hours; then whole days).
std::vector<double> TimeTicks(double lo, double hi, int n) {
  static constexpr double kSteps[] = {60,   120,  300,  600,   900,   1200,
                                      1800, 3600, 7200, 10800, 21600, 43200};
  const double raw = (hi - lo) / std::max(n, 1);
  double step = std::ceil(raw / 86400) * 86400;
  for (double s : kSteps) {
    if (s >= raw) {
      step = s;
      break;
    }
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + 1e-9 && ticks.size() < 50; t += step) {
    ticks.push_back(t);
  }
  return ticks;
}

std::string TickLabel(double v, double step) {
  double top = std::max(std::abs(v), step);
  if (step < 1e-3 || top >= 1e6) return fmt::format("{:.2g}", v);
  int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  return fmt::format("{:.{}f}", v, decimals);
}

void Axes(cairo_t* cr, const PlotFrame& f, const LinePlotOptions& o) {
  double step = 0;
  cairo_set_line_width(cr, 1);
  for (double t : Ticks(f.y_min, f.y_max, 6, &step)) {
    double y = std::round(f.PixelY(t)) + 0.5;
    SetColour(cr, 0xE6E6E6);
    cairo_move_to(cr, f.left, y);
    cairo_line_to(cr, f.right, y);
    cairo_stroke(cr);
    SetColour(cr, 0x333333);
    cairo_move_to(cr, f.left - 5, y);
    cairo_line_to(cr, f.left, y);
    cairo_stroke(cr);
    Text(cr, TickLabel(t, step), f.left - 8, y, 1, 12);
  }
  for (double t : Ticks(f.x_min, f.x_max, 8, &step, o.integer_x ? 1 : 0)) {
    double x = std::round(f.PixelX(t)) + 0.5;
    SetColour(cr, 0x333333);
    cairo_move_to(cr, x, f.bottom);
    cairo_line_to(cr, x, f.bottom + 5);
    cairo_stroke(cr);
    Text(cr, TickLabel(t, step), x, f.bottom + 16, 0.5, 12);
  }
  SetColour(cr, 0x333333);
  cairo_rectangle(cr, f.left + 0.5, f.top + 0.5, f.right - f.left, f.bottom - f.top);
  cairo_stroke(cr);
  Text(cr, o.x_label, (f.left + f.right) / 2, f.bottom + 36, 0.5, 13);
}

void Curve(cairo_t* cr, const PlotFrame& f, const std::vector<PlotPoint>& points, uint32_t colour,
           bool marks) {
  SetColour(cr, colour);
  cairo_set_line_width(cr, 2);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  for (size_t i = 0; i < points.size(); ++i) {
    double x = f.PixelX(points[i].x), y = f.PixelY(points[i].y);
    if (i == 0) {
      cairo_move_to(cr, x, y);
    } else {
      cairo_line_to(cr, x, y);
    }
  }
  if (points.size() > 1) cairo_stroke(cr);
  cairo_new_path(cr);
  if (!marks) return;
  for (const PlotPoint& p : points) {
    cairo_arc(cr, f.PixelX(p.x), f.PixelY(p.y), 3.5, 0, 2 * M_PI);
    cairo_fill(cr);
  }
}

}  // namespace

double PlotFrame::PixelX(double x) const {
  return left + (x - x_min) / (x_max - x_min) * (right - left);
}
double PlotFrame::PixelY(double y) const {
  return bottom - (y - y_min) / (y_max - y_min) * (bottom - top);
}

std::vector<double> TensorboardSmoothing(const std::vector<double>& values, double weight) {
  std::vector<double> out;
  double x = 0, norm = 0;
  for (double v : values) {
    x = x * weight + v;
    norm = norm * weight + 1;
    out.push_back(x / norm);
  }
  return out;
}

PlotFrame LinePlotFrame(const std::vector<PlotPoint>& points, const LinePlotOptions& options) {
  PlotFrame f;
  f.width = options.width;
  f.height = options.height;
  f.left = 80;
  f.right = options.width - 25;
  f.top = 45;
  f.bottom = options.height - 55;
  if (points.empty()) return f;
  auto [xlo, xhi] =
      std::minmax_element(points.begin(), points.end(), [](auto& a, auto& b) { return a.x < b.x; });
  auto [ylo, yhi] =
      std::minmax_element(points.begin(), points.end(), [](auto& a, auto& b) { return a.y < b.y; });
  auto range = [](double lo, double hi, double* out_lo, double* out_hi) {
    double span = hi - lo;
    if (span <= std::max(std::abs(hi), 1.0) * 1e-12) {  // one value: a range around it
      double half = std::max(std::abs(hi) * 0.1, 1e-3);
      *out_lo = lo - half;
      *out_hi = hi + half;
      return;
    }
    *out_lo = lo - span * 0.05;
    *out_hi = hi + span * 0.05;
  };
  range(xlo->x, xhi->x, &f.x_min, &f.x_max);
  range(ylo->y, yhi->y, &f.y_min, &f.y_max);
  return f;
}

Result<std::string> RenderLinePlotPng(const std::vector<PlotPoint>& points,
                                      const LinePlotOptions& options) {
  if (points.empty()) return InvalidArgument("plot '{}': no points", options.title);
  for (const PlotPoint& p : points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y) || std::abs(p.x) > 1e300 ||
        std::abs(p.y) > 1e300) {
      return InvalidArgument("plot '{}': the point ({}, {}) is not a finite number", options.title,
                             p.x, p.y);
    }
  }
  BATON_ASSIGN_OR_RETURN(auto canvas, Canvas(options.width, options.height));
  cairo_t* cr = canvas.second.get();
  const PlotFrame f = LinePlotFrame(points, options);
  SetColour(cr, 0x222222);
  Text(cr, options.title, options.width / 2.0, 22, 0.5, 16);
  Axes(cr, f, options);
  cairo_save(cr);
  cairo_rectangle(cr, f.left, f.top, f.right - f.left, f.bottom - f.top);
  cairo_clip(cr);
  if (options.smooth && points.size() > 1) {
    Curve(cr, f, points, kRawCurveColour, /*marks=*/true);
    std::vector<double> ys;
    for (const PlotPoint& p : points) ys.push_back(p.y);
    std::vector<double> smoothed = TensorboardSmoothing(ys, options.smooth_weight);
    std::vector<PlotPoint> line = points;
    for (size_t i = 0; i < line.size(); ++i) line[i].y = smoothed[i];
    Curve(cr, f, line, kCurveColour, /*marks=*/false);
  } else {
    Curve(cr, f, points, kCurveColour, /*marks=*/true);
  }
  cairo_restore(cr);
  return EncodePng(canvas.first.get());
}

// --- the timeline ----------------------------------------------------------------------------

double TimelineFrame::PixelX(double t) const {
  return left + (t - t_min) / (t_max - t_min) * (right - left);
}
double TimelineFrame::RowCenterY(size_t row) const {
  return top + row_height * (static_cast<double>(row) + 0.5);
}

TimelineFrame CostTimelineFrame(const CostTimeline& timeline) {
  TimelineFrame f;
  f.width = 1000;
  f.left = 250;
  f.right = f.width - 170;
  f.top = 50;
  f.row_height = 34;
  f.bar_height = 18;
  f.height =
      static_cast<int>(f.top + f.row_height * std::max<size_t>(timeline.bars.size(), 1) + 95);
  // From the run's start (or an instance a ledger says launched before it) to the last end.
  f.t_min = 0;
  double end = timeline.end;
  for (const TimelineBar& b : timeline.bars) {
    f.t_min = std::min(f.t_min, b.launched);
    end = std::max({end, b.launched, b.ended});
  }
  f.t_max = end > f.t_min ? end : f.t_min + 1;
  return f;
}

namespace {

std::string Money(double amount, const std::string& currency) {
  if (amount < 0) return "?";
  return fmt::format("{:.2f}{}{}", amount, currency.empty() ? "" : " ", currency);
}

std::string Hours(double seconds) {
  long long minutes = std::llround(std::max(seconds, 0.0) / 60);
  return fmt::format("{}:{:02}", minutes / 60, minutes % 60);
}

}  // namespace

Result<std::string> RenderCostTimelinePng(const CostTimeline& timeline) {
  if (timeline.bars.size() > kMaxBars) {
    return InvalidArgument("cost timeline: {} instances; at most {} can be drawn",
                           timeline.bars.size(), kMaxBars);
  }
  auto finite = [](double v) { return std::isfinite(v) && std::abs(v) < 1e12; };
  for (const TimelineBar& b : timeline.bars) {
    if (!finite(b.launched) || !finite(b.running) || !finite(b.notice) || !finite(b.ended) ||
        !finite(b.cost)) {
      return InvalidArgument(
          "cost timeline: instance '{}' has a time or cost that is not a finite number below "
          "10^12",
          b.instance);
    }
  }
  if (!finite(timeline.end)) return InvalidArgument("cost timeline: the end time is out of range");
  const TimelineFrame f = CostTimelineFrame(timeline);
  BATON_ASSIGN_OR_RETURN(auto canvas, Canvas(f.width, f.height));
  cairo_t* cr = canvas.second.get();
  SetColour(cr, 0x222222);
  Text(cr, timeline.title, f.width / 2.0, 22, 0.5, 16);
  const double axis_y = f.top + f.row_height * std::max<size_t>(timeline.bars.size(), 1);
  // The time axis (h:mm since the run began) with light grid lines.
  cairo_set_line_width(cr, 1);
  for (double t : TimeTicks(f.t_min, f.t_max, 8)) {
    double x = std::round(f.PixelX(t)) + 0.5;
    SetColour(cr, 0xE6E6E6);
    cairo_move_to(cr, x, f.top);
    cairo_line_to(cr, x, axis_y);
    cairo_stroke(cr);
    SetColour(cr, 0x333333);
    cairo_move_to(cr, x, axis_y);
    cairo_line_to(cr, x, axis_y + 5);
    cairo_stroke(cr);
    Text(cr, Hours(t), x, axis_y + 16, 0.5, 12);
  }
  SetColour(cr, 0x333333);
  cairo_move_to(cr, f.left, axis_y + 0.5);
  cairo_line_to(cr, f.right, axis_y + 0.5);
  cairo_stroke(cr);
  Text(cr, "time since the run began (h:mm)", (f.left + f.right) / 2, axis_y + 36, 0.5, 13);
  SetColour(cr, 0x333333);
  Text(cr, "cost", f.right + 12, f.top - 12, 0, 12);

  for (size_t row = 0; row < timeline.bars.size(); ++row) {
    const TimelineBar& b = timeline.bars[row];
    const uint32_t colour = b.spot ? kSpotColour : kOnDemandColour;
    const double y = f.RowCenterY(row), top = y - f.bar_height / 2;
    const double end = b.ended >= 0 ? b.ended : timeline.end;
    auto span = [&](double from, double to, uint32_t rgb) {
      if (to <= from) return;
      SetColour(cr, rgb);
      cairo_rectangle(cr, f.PixelX(from), top, std::max(f.PixelX(to) - f.PixelX(from), 1.0),
                      f.bar_height);
      cairo_fill(cr);
    };
    const double trains = b.running >= 0 ? std::min(b.running, end) : end;
    const double stops = b.notice >= 0 ? std::clamp(b.notice, trains, end) : end;
    span(b.launched, trains, Lighter(colour, 0.6));  // booting, loading, stand-by
    span(trains, stops, colour);                     // training
    if (stops < end) {                               // from the notice or stop: hatched
      span(stops, end, Lighter(colour, 0.3));
      SetColour(cr, 0xFFFFFF);
      cairo_set_line_width(cr, 1.5);
      cairo_save(cr);
      cairo_rectangle(cr, f.PixelX(stops), top, f.PixelX(end) - f.PixelX(stops), f.bar_height);
      cairo_clip(cr);
      for (double x = f.PixelX(stops) - f.bar_height; x < f.PixelX(end); x += 6) {
        cairo_move_to(cr, x, top + f.bar_height);
        cairo_line_to(cr, x + f.bar_height, top);
      }
      cairo_stroke(cr);
      cairo_restore(cr);
    }
    SetColour(cr, 0x222222);
    Text(cr, b.instance, 10, y - 7, 0, 11);
    SetColour(cr, 0x555555);
    Text(cr, b.offer, 10, y + 8, 0, 10);
    SetColour(cr, 0x222222);
    std::string how = b.end.empty() ? "running" : b.end;
    double after = f.PixelX(end) + 4;
    if (after + 70 > f.right) {  // no room after the bar: inside it, in white
      SetColour(cr, 0xFFFFFF);
      Text(cr, how, f.PixelX(end) - 4, y, 1, 11);
    } else {
      Text(cr, how, after, y, 0, 11);
    }
    SetColour(cr, 0x222222);
    Text(cr, Money(b.cost, timeline.currency), f.right + 12, y, 0, 12);
  }
  if (timeline.bars.empty()) {
    SetColour(cr, 0x777777);
    Text(cr, "no instances", (f.left + f.right) / 2, f.RowCenterY(0), 0.5, 13);
  }
  // The legend and the bill.
  const double legend_y = axis_y + 62;
  double x = 10;
  for (auto [rgb, label] : {std::pair<uint32_t, const char*>{kSpotColour, "spot"},
                            {kOnDemandColour, "on-demand"},
                            {Lighter(kSpotColour, 0.6), "booting / loading"}}) {
    SetColour(cr, rgb);
    cairo_rectangle(cr, x, legend_y - 6, 16, 12);
    cairo_fill(cr);
    SetColour(cr, 0x222222);
    Text(cr, label, x + 22, legend_y, 0, 12);
    x += 150;
  }
  std::string bill = fmt::format("total {}", Money(timeline.total_cost, timeline.currency));
  if (timeline.on_demand_cost > 0) {
    bill += fmt::format("  |  all on-demand {}", Money(timeline.on_demand_cost, timeline.currency));
    if (timeline.total_cost >= 0) {
      bill += fmt::format("  |  saved {:.0f}%",
                          100 * (1 - timeline.total_cost / timeline.on_demand_cost));
    }
  }
  Text(cr, bill, f.width - 10, legend_y, 1, 13);
  return EncodePng(canvas.first.get());
}

}  // namespace baton::view
