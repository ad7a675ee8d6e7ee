#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "commands.hpp"

namespace crt::cli {

// The verbs of `crt image`, one file each.
void add_image_import(CLI::App& image, const GlobalOptions& g);
void add_image_pull(CLI::App& image, const GlobalOptions& g);
void add_image_inspect(CLI::App& image, const GlobalOptions& g, int& exit_status);
void add_image_rm(CLI::App& image, const GlobalOptions& g, int& exit_status);
void add_image_prune(CLI::App& image, const GlobalOptions& g, int& exit_status);
void add_image_gc(CLI::App& image, const GlobalOptions& g, int& exit_status);
void add_image_export(CLI::App& image, const GlobalOptions& g);

/// Runs `action` on each image of `refs`, going on past one that fails, as
/// crt rm goes on past a pod: each failure is said on a line of its own,
/// and `exit_status` is then 254. A signal that stops crt ends it at once.
void for_each_image(const std::vector<std::string>& refs, int& exit_status,
                    const std::function<void(const std::string&)>& action);

}  // namespace crt::cli
