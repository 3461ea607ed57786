# frozen_string_literal: true

require "logger"

class EdgeLogger < ::Logger
  # Rack middleware: an exception the app does not handle is reported (with the request path
  # as +endpoint+) and raised again, so the app's own error handling is unchanged.
  #
  #   use EdgeLogger::Rack                       # reports through EdgeLogger.default
  #   use EdgeLogger::Rack, logger: my_logger
  class Rack
    def initialize(app, logger: nil)
      @app = app
      @logger = logger
    end

    def call(env)
      @app.call(env)
    rescue Exception => e # rubocop:disable Lint/RescueException -- reported, then raised as it was
      report(e, env)
      raise
    end

    private

    def report(error, env)
      logger = @logger || EdgeLogger.default
      return unless logger

      logger.capture_exception(
        error,
        level: "error",
        endpoint: env["PATH_INFO"].to_s,
        source_type: "backend",
        request_id: env["HTTP_X_REQUEST_ID"],
        context: { "method" => env["REQUEST_METHOD"], "query" => env["QUERY_STRING"].to_s.empty? ? nil : "[present]" }.compact
      )
    rescue StandardError
      nil
    end
  end
end
