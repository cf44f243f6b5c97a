//===- ApiError.h - OpenAI-style error answers                  -*- C++ -*-===//
//
// Every rejected request gets OpenAI's error object, {"error": {"message",
// "type", "param", "code"}}, with the HTTP status that goes with it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_APIERROR_H
#define KILN_SERVING_APIERROR_H

#include <string>

namespace kiln::serving {

struct ApiError {
  int status = 400;
  std::string message;
  /// "invalid_request_error", "not_found_error", "rate_limit_error",
  /// "server_error".
  std::string type = "invalid_request_error";
  /// The offending request field, "" when none.
  std::string param;
  /// A short machine-readable code, "" when none.
  std::string code;

  /// The JSON body.
  std::string body() const;
};

inline ApiError badRequest(std::string message, std::string param = "",
                           std::string code = "") {
  return {400, std::move(message), "invalid_request_error", std::move(param),
          std::move(code)};
}

} // namespace kiln::serving

#endif // KILN_SERVING_APIERROR_H
