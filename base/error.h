// One error family for everything above the kernels. Every error names the file, field or peer,
// the value and the rule it broke; its category says which kind of thing was wrong, so a main can
// map it to an exit code and a boundary never has to rethrow one kind as another.
//
//   category   thrown for                                         e.g.
//   config     options, board files, quant configs, settings      "W9A8: w_bits 9 is not one of
//   ..." model      a model file that is corrupt or inconsistent       "tiny.safetensors: tensor
//   ..." data       data sets, tokenizer files                         "vocab.json: merges[3] ..."
//   protocol   a message from the network                         "HELLO.cores: must be > 0"
//   device     a board or sensor that does not behave             "rapl: energy_uj unreadable"
//   usage      a command line that cannot be run                  "--budget: must be positive"
//   runtime    anything else that failed while running            "cannot write out.csv"
#pragma once

#include <stdexcept>
#include <string>

namespace hilq {

enum class ErrorCategory { kConfig, kModel, kData, kProtocol, kDevice, kUsage, kRuntime };

// "config", "model", ... (the category column of logs and error rows).
const char* error_category_name(ErrorCategory category);

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : Error(ErrorCategory::kRuntime, what) {}
  Error(ErrorCategory category, const std::string& what)
      : std::runtime_error(what), category_(category) {}
  ErrorCategory category() const { return category_; }

 private:
  ErrorCategory category_;
};

#define HILQ_DEFINE_ERROR(Name, Category)                                            \
  class Name : public Error {                                                        \
   public:                                                                           \
    explicit Name(const std::string& what) : Error(ErrorCategory::Category, what) {} \
  };
HILQ_DEFINE_ERROR(ConfigError, kConfig)
HILQ_DEFINE_ERROR(ModelError, kModel)
HILQ_DEFINE_ERROR(DataError, kData)
HILQ_DEFINE_ERROR(ProtocolError, kProtocol)
HILQ_DEFINE_ERROR(DeviceError, kDevice)
HILQ_DEFINE_ERROR(UsageError, kUsage)
#undef HILQ_DEFINE_ERROR

}  // namespace hilq
