//===- HttpServer.h - the OpenAI-compatible HTTP API            -*- C++ -*-===//
//
// Routes of kiln-serve over cpp-httplib: POST /v1/chat/completions and
// /v1/completions (whole answers or server-sent events), GET /v1/models,
// /health and /metrics. Bad input is a 4xx with OpenAI's error object; a full
// queue is 429 with Retry-After.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_HTTPSERVER_H
#define KILN_SERVING_HTTPSERVER_H

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "models/tokenizer/ChatTemplate.h"
#include "models/tokenizer/TextTokenizer.h"
#include "serving/Engine.h"
#include "serving/Metrics.h"

namespace kiln::serving {

struct ServerOptions {
  std::string host = "127.0.0.1";
  /// 0: an ephemeral port (see HttpServer::port()).
  int port = 8000;
  /// Connections served at once (each streaming client holds one).
  int threads = 64;
  /// Larger bodies are refused with 413 before they are read whole.
  size_t maxBodyBytes = 1 << 20;
  /// The id /v1/models lists and requests must name.
  std::string modelName = "kiln";
};

/// What the server answers with; all must outlive it.
struct ServedModel {
  Engine &engine;
  const tokenizer::TextTokenizer &tokenizer;
  /// Null: chat completions are refused (the model names no template).
  const tokenizer::ChatTemplate *chatTemplate = nullptr;
  Metrics &metrics;
};

class HttpServer {
public:
  HttpServer(ServedModel model, ServerOptions options);
  ~HttpServer();

  /// Binds the socket; the port is known from here on.
  absl::Status bind();
  int port() const { return boundPort; }
  /// Serves until stop(); returns when it stopped.
  absl::Status serve();
  /// Safe from any thread (a signal handler's helper thread, a test).
  void stop();

private:
  struct Impl;
  std::unique_ptr<Impl> impl;
  int boundPort = 0;
};

} // namespace kiln::serving

#endif // KILN_SERVING_HTTPSERVER_H
