//===- HttpServer.cpp - the OpenAI-compatible HTTP API --------------------===//

#include "serving/HttpServer.h"

#include <sys/socket.h>

#include <chrono>
#include <random>

#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "serving/ClientSocket.h"
#include "serving/CompletionJob.h"
#include "serving/ConstraintCache.h"
#include "serving/OpenAiRequest.h"

namespace kiln::serving {

namespace {

using json = nlohmann::json;

void sendError(httplib::Response &res, const ApiError &error) {
  res.status = error.status;
  if (error.status == 429)
    res.set_header("Retry-After", "1");
  res.set_content(error.body(), "application/json");
}

/// A seed for requests that name none: fresh per request, as OpenAI's.
int64_t drawSeed() {
  static std::mutex mutex;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mutex);
  return static_cast<int64_t>(rng() >> 1);
}

/// What a reasoning template's completion holds before a JSON
/// response_format's value: reasoning without "</" up to "</think>", as
/// DeepSeek's API puts content after reasoning_content. Nothing follows
/// "</think>" but the JSON, so content is the JSON alone.
constexpr const char *kReasoningPrefix = "([^<]|<+[^</])*<*</think>";

/// The label /metrics counts a path under: known routes by name, anything
/// else as "other" so that a scan of random paths adds no series.
std::string endpointLabel(const std::string &path) {
  for (const char *known : {"/v1/chat/completions", "/v1/completions",
                            "/v1/models", "/health", "/metrics"})
    if (path == known)
      return path;
  if (path.rfind("/v1/models/", 0) == 0)
    return "/v1/models/{id}";
  return "other";
}

} // namespace

struct HttpServer::Impl {
  ServedModel model;
  ServerOptions options;
  httplib::Server server;
  int64_t created = 0;
  /// The listening socket, to widen httplib's backlog of 5 after bind.
  int listenFd = -1;
  /// Built on the first constrained request (the trie of a large
  /// vocabulary takes a moment).
  std::once_flag constraintsOnce;
  std::unique_ptr<ConstraintCache> constraints;

  Impl(ServedModel model, ServerOptions options)
      : model(model), options(std::move(options)) {}

  json modelCard() const {
    return {{"id", options.modelName},
            {"object", "model"},
            {"created", created},
            {"owned_by", "kiln"},
            {"max_model_len", model.engine.contextLength()}};
  }

  /// The token ids of one prompt: the chat's rendered messages, or a
  /// completion prompt's text or ids. `param` names it in errors.
  std::optional<ApiError> tokenize(const CompletionRequest &req,
                                   const CompletionRequest::Prompt &prompt,
                                   const std::string &param,
                                   std::vector<int64_t> &ids) const {
    std::string text = prompt.text;
    if (req.chat) {
      if (!model.chatTemplate)
        return badRequest("this model names no chat template; use "
                          "/v1/completions or start kiln-serve with "
                          "--chat-template",
                          "messages", "no_chat_template");
      auto rendered = model.chatTemplate->render(req.messages);
      if (!rendered.ok())
        return badRequest(std::string(rendered.status().message()), "messages");
      text = *rendered;
    }
    if (prompt.ids) {
      ids = *prompt.ids;
      for (int64_t id : ids)
        if (id >= model.engine.vocabSize())
          return badRequest(absl::StrCat("prompt token id ", id,
                                         " is outside the vocabulary of ",
                                         model.engine.vocabSize()),
                            param);
    } else {
      auto encoded = model.tokenizer.encode(text);
      if (!encoded.ok())
        return badRequest(std::string(encoded.status().message()), param);
      ids = *std::move(encoded);
    }
    int64_t context = model.engine.contextLength();
    if (ids.empty())
      return badRequest("the prompt is empty", param);
    if (static_cast<int64_t>(ids.size()) > context)
      return badRequest(absl::StrCat("This model's maximum context length is ",
                                     context, " tokens. However, your ", param,
                                     " resulted in ", ids.size(), " tokens."),
                        param, "context_length_exceeded");
    return std::nullopt;
  }

  /// Every prompt of the request, tokenized.
  std::optional<ApiError>
  tokenizeAll(const CompletionRequest &req,
              std::vector<std::vector<int64_t>> &prompts) const {
    if (req.chat) {
      prompts.emplace_back();
      return tokenize(req, {}, "messages", prompts.back());
    }
    for (size_t i = 0; i < req.prompts.size(); ++i) {
      prompts.emplace_back();
      std::string param =
          req.prompts.size() == 1 ? "prompt" : absl::StrCat("prompt[", i, "]");
      if (auto error = tokenize(req, req.prompts[i], param, prompts.back()))
        return error;
    }
    return std::nullopt;
  }

  ConstraintCache &constraintCache() {
    std::call_once(constraintsOnce, [&] {
      std::vector<std::string> spellings(model.engine.vocabSize());
      for (int64_t id = 0; id < model.engine.vocabSize(); ++id)
        spellings[id] = model.tokenizer.spelling(id);
      constraints =
          std::make_unique<ConstraintCache>(std::make_shared<const TokenTrie>(
              spellings, model.tokenizer.eosId()));
    });
    return *constraints;
  }

  /// The request's compiled output constraint (null when it has none).
  std::variant<std::shared_ptr<const TokenConstraint>, ApiError>
  constraintOf(const CompletionRequest &req) {
    using Constraint = CompletionRequest::Constraint;
    if (req.constraint == Constraint::none)
      return nullptr;
    if (!model.engine.takesLogitMask())
      return badRequest(
          absl::StrCat("'", req.constraintParam,
                       "' needs entries compiled with a logit mask; "
                       "re-export this server's bundle"),
          req.constraintParam, "unsupported_parameter");
    std::string pattern = req.constraintRegex;
    if (req.chat && req.constraint == Constraint::json && model.chatTemplate &&
        model.chatTemplate->reasons())
      pattern = absl::StrCat(kReasoningPrefix, "(", pattern, ")");
    auto compiled = constraintCache().get(pattern);
    if (!compiled.ok())
      return badRequest(std::string(compiled.status().message()),
                        req.constraint == Constraint::regex
                            ? req.constraintParam
                            : "response_format.json_schema.schema",
                        req.constraint == Constraint::regex
                            ? "invalid_regex"
                            : "invalid_json_schema");
    return *compiled;
  }

  /// Waits for a whole answer while watching the client's connection: a
  /// client that hangs up cancels its request, which frees its slots. False
  /// when that happened.
  static bool awaitClient(const httplib::Request &http, CompletionJob &job) {
    constexpr std::chrono::milliseconds kPoll(100);
    if (job.waitFor(kPoll))
      return true;
    // Only requests that outlast a poll look their socket up.
    int fd =
        findConnection(http.remote_addr, http.remote_port, http.local_port);
    while (!job.waitFor(kPoll))
      if (fd >= 0 && peerHungUp(fd)) {
        job.cancel();
        while (!job.waitFor(kPoll)) {
        }
        return false;
      }
    return true;
  }

  void complete(const httplib::Request &http, httplib::Response &res,
                bool chat) {
    auto parsed = parseCompletionRequest(http.body, chat);
    if (auto *error = std::get_if<ApiError>(&parsed))
      return sendError(res, *error);
    CompletionRequest req = std::get<CompletionRequest>(std::move(parsed));
    if (req.model != options.modelName)
      return sendError(res,
                       {404,
                        absl::StrCat("The model '", req.model,
                                     "' does not exist; this server "
                                     "serves '",
                                     options.modelName, "'"),
                        "invalid_request_error", "model", "model_not_found"});
    std::vector<std::vector<int64_t>> prompts;
    if (auto error = tokenizeAll(req, prompts))
      return sendError(res, *error);
    auto constraint = constraintOf(req);
    if (auto *error = std::get_if<ApiError>(&constraint))
      return sendError(res, *error);
    int64_t seed = req.seed ? *req.seed : drawSeed();
    JobContext context{model.engine, model.tokenizer, model.metrics,
                       options.modelName,
                       model.chatTemplate && model.chatTemplate->reasons()};
    bool stream = req.stream;
    auto job =
        CompletionJob::create(context, std::move(req), std::move(prompts), seed,
                              std::get<std::shared_ptr<const TokenConstraint>>(
                                  std::move(constraint)));
    if (auto error = job->submit())
      return sendError(res, *error);
    if (!stream) {
      if (!awaitClient(http, *job)) {
        // Nobody reads this answer; the status is for the request log and
        // /metrics.
        return sendError(res, {499, "the client closed the connection",
                               "invalid_request_error", "", "client_closed"});
      }
      auto answer = job->wait();
      if (auto *error = std::get_if<ApiError>(&answer))
        return sendError(res, *error);
      res.set_content(std::get<std::string>(answer), "application/json");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [job](size_t, httplib::DataSink &sink) {
          std::string out;
          bool more = job->nextEvents(out, std::chrono::milliseconds(200));
          if (!sink.is_writable() ||
              (!out.empty() && !sink.write(out.data(), out.size()))) {
            job->cancel();
            return false;
          }
          if (!more)
            sink.done();
          return true;
        },
        [job](bool success) {
          if (!success)
            job->cancel();
        });
  }

  void routes() {
    server.Post("/v1/chat/completions",
                [this](const httplib::Request &req, httplib::Response &res) {
                  complete(req, res, /*chat=*/true);
                });
    server.Post("/v1/completions",
                [this](const httplib::Request &req, httplib::Response &res) {
                  complete(req, res, /*chat=*/false);
                });
    server.Get("/v1/models", [this](const httplib::Request &,
                                    httplib::Response &res) {
      json list = {{"object", "list"}, {"data", json::array({modelCard()})}};
      res.set_content(list.dump(), "application/json");
    });
    server.Get("/v1/models/(.*)",
               [this](const httplib::Request &req, httplib::Response &res) {
                 if (req.matches[1] != options.modelName)
                   return sendError(res, {404, "The model does not exist",
                                          "invalid_request_error", "model",
                                          "model_not_found"});
                 res.set_content(modelCard().dump(), "application/json");
               });
    server.Get("/health", [](const httplib::Request &, httplib::Response &res) {
      res.set_content("{\"status\":\"ok\"}", "application/json");
    });
    server.Get(
        "/metrics", [this](const httplib::Request &, httplib::Response &res) {
          res.set_content(model.metrics.render(), "text/plain; version=0.0.4");
        });
    // Statuses httplib sets itself (404, 405, 413, a malformed request line)
    // get the same error object as the handlers' own.
    server.set_error_handler(httplib::Server::HandlerWithResponse(
        [](const httplib::Request &, httplib::Response &res) {
          if (!res.body.empty())
            return httplib::Server::HandlerResponse::Unhandled;
          std::string type =
              res.status == 404 ? "not_found_error" : "invalid_request_error";
          std::string message = res.status == 413
                                    ? "the request body is too large"
                                : res.status == 404 ? "no such route"
                                                    : "the request was refused";
          ApiError error{res.status, message, type, "", ""};
          res.set_content(error.body(), "application/json");
          return httplib::Server::HandlerResponse::Handled;
        }));
    server.set_exception_handler([](const httplib::Request &,
                                    httplib::Response &res,
                                    std::exception_ptr) {
      sendError(res, {500, "internal error", "server_error", "", ""});
    });
    server.set_logger(
        [this](const httplib::Request &req, const httplib::Response &res) {
          model.metrics.countRequest(endpointLabel(req.path), res.status);
        });
  }
};

HttpServer::HttpServer(ServedModel model, ServerOptions options)
    : impl(std::make_unique<Impl>(model, std::move(options))) {
  impl->created = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  int threads = std::max(impl->options.threads, 2);
  impl->server.new_task_queue = [threads] {
    return new httplib::ThreadPool(threads);
  };
  impl->server.set_payload_max_length(impl->options.maxBodyBytes);
  Impl *state = impl.get();
  impl->server.set_socket_options([state](socket_t sock) {
    httplib::default_socket_options(sock);
    state->listenFd = sock;
  });
  impl->server.set_keep_alive_max_count(1000);
  impl->server.set_read_timeout(10, 0);
  impl->server.set_write_timeout(10, 0);
  impl->routes();
}

HttpServer::~HttpServer() { stop(); }

absl::Status HttpServer::bind() {
  int port =
      impl->options.port == 0
          ? impl->server.bind_to_any_port(impl->options.host)
          : (impl->server.bind_to_port(impl->options.host, impl->options.port)
                 ? impl->options.port
                 : -1);
  if (port <= 0)
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", impl->options.host, ":", impl->options.port));
  boundPort = port;
  // httplib listens with a backlog of 5: a burst of clients connecting at
  // once overflows it and the kernel drops their handshakes. Listening again
  // on the bound socket widens the queue.
  if (impl->listenFd >= 0)
    ::listen(impl->listenFd, SOMAXCONN);
  return absl::OkStatus();
}

absl::Status HttpServer::serve() {
  if (!impl->server.listen_after_bind())
    return absl::UnavailableError("the HTTP server stopped with an error");
  return absl::OkStatus();
}

void HttpServer::stop() {
  if (impl->server.is_running())
    impl->server.stop();
}

} // namespace kiln::serving
