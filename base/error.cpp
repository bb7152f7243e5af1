// Names of error categories (see error.h).
#include "base/error.h"

namespace hilq {

const char* error_category_name(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::kConfig:
      return "config";
    case ErrorCategory::kModel:
      return "model";
    case ErrorCategory::kData:
      return "data";
    case ErrorCategory::kProtocol:
      return "protocol";
    case ErrorCategory::kDevice:
      return "device";
    case ErrorCategory::kUsage:
      return "usage";
    case ErrorCategory::kRuntime:
      return "runtime";
  }
  return "error";
}

}  // namespace hilq
