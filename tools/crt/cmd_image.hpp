#pragma once

#include <CLI/CLI.hpp>

#include "commands.hpp"

namespace crt::cli {

// The verbs of `crt image`, one file each.
void add_image_import(CLI::App& image, const GlobalOptions& g);
void add_image_pull(CLI::App& image, const GlobalOptions& g);
void add_image_inspect(CLI::App& image, const GlobalOptions& g);
void add_image_rm(CLI::App& image, const GlobalOptions& g);
void add_image_gc(CLI::App& image, const GlobalOptions& g);
void add_image_export(CLI::App& image, const GlobalOptions& g);

}  // namespace crt::cli
