// tools/cli/model_flags.cpp — model options as flags (see model_flags.h).
#include "tools/cli/model_flags.h"

#include <cmath>

#include "core/error.h"

namespace sieve::tools {

namespace {

using nlohmann::json;

// A flag's text as the JSON type of the option's default.
json parse_model_flag_type(const models::ModelOption& option, const std::string& text) {
  const json& d = option.default_value;
  bool not_finite = false;
  try {
    size_t used = 0;
    if (d.is_number_integer()) {
      const long long v = std::stoll(text, &used);
      if (used == text.size()) return v;
    } else if (d.is_number()) {
      const double v = std::stod(text, &used);
      not_finite = !std::isfinite(v);
      if (used == text.size() && !not_finite) return v;
    } else if (d.is_boolean()) {
      if (text == "true" || text == "1") return true;
      if (text == "false" || text == "0") return false;
    } else {
      return text;
    }
  } catch (const std::exception&) {
  }
  if (not_finite) fail("--{}: must be a finite number, got '{}'", option.key, printable(text, 64));
  fail("--{}: expected {} (like {}), got '{}'", option.key, d.type_name(), d.dump(), printable(text, 64));
}

// A flag's text as the option's type, within the option's range.
json parse_model_flag(const models::ModelOption& option, const std::string& text) {
  json value = parse_model_flag_type(option, text);
  const std::string why = option.out_of_range(value);
  if (!why.empty()) fail("--{}: {} ({})", option.key, why, option.help);
  return value;
}

}  // namespace

bool is_data_key(const std::string& key) {
  return key == "in_channels" || key == "image_size" || key == "num_classes" || key == "vocab" || key == "per_token";
}

void add_model_flags(CLI::App* cmd, const models::ModelSpec& spec, const std::shared_ptr<ModelFlagTexts>& texts) {
  for (const models::ModelOption& option : spec.options) {
    if (is_data_key(option.key)) continue;
    const std::string shown =
        option.default_value.is_string() ? option.default_value.get<std::string>() : option.default_value.dump();
    cmd->add_option_function<std::string>(
        "--" + option.key, [texts, key = option.key](const std::string& v) { (*texts)[key] = v; },
        option.help + " (default: " + shown +
            (option.has_range() ? fmt::format("; {} to {}", option.min, option.max) : std::string()) + ")");
  }
}

json parse_model_flags(const models::ModelSpec& spec, const ModelFlagTexts& texts) {
  json given = json::object();
  for (const models::ModelOption& option : spec.options) {
    auto it = texts.find(option.key);
    if (it != texts.end()) given[option.key] = parse_model_flag(option, it->second);
  }
  return given;
}

}  // namespace sieve::tools
