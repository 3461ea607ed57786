# frozen_string_literal: true

require "logger"
require "securerandom"
require "time"
require_relative "edge_logger/transport"

# A +Logger+ that sends to an edge-logger worker from a background thread, so logging never
# blocks, crashes or slows the application. Standard library only.
#
#   logger = EdgeLogger.new(endpoint: "https://logger.example.com", key: "elk_…", service: "shop")
#   Rails.logger.broadcast_to(logger)          # Rails 7.1+; or use it as Rails.logger
#   EdgeLogger.log("order.paid", { order: 42 }, routing_key: "billing")
#   EdgeLogger.capture_exception(e)
class EdgeLogger < ::Logger
  VERSION = "0.1.0"

  LEVELS = { ::Logger::DEBUG => "debug", ::Logger::INFO => "info", ::Logger::WARN => "warn",
             ::Logger::ERROR => "error", ::Logger::FATAL => "fatal", ::Logger::UNKNOWN => "error" }.freeze

  class << self
    # The logger +EdgeLogger.log+ and +EdgeLogger.capture_exception+ use: the last one created,
    # unless set.
    attr_accessor :default

    def log(event_type, payload = {}, **opts)
      default&.event(event_type, payload, **opts)
    end

    def capture_exception(error, **fields)
      default&.capture_exception(error, **fields)
    end

    # A UUIDv7 (RFC 9562): 48 bits of milliseconds, then random; time-ordered ids keep the
    # worker's unique index appending at its end.
    def uuid7(now_ms = (Time.now.to_r * 1000).to_i)
      bytes = [now_ms].pack("Q>")[2, 6].bytes + SecureRandom.random_bytes(10).bytes
      bytes[6] = (bytes[6] & 0x0f) | 0x70
      bytes[8] = (bytes[8] & 0x3f) | 0x80
      hex = bytes.pack("C*").unpack1("H*")
      "#{hex[0, 8]}-#{hex[8, 4]}-#{hex[12, 4]}-#{hex[16, 4]}-#{hex[20, 12]}"
    end
  end

  attr_reader :transport

  # Options beyond +service+, +environment+, +release+ and +level+ go to the transport
  # (+batch_size:+, +flush_interval:+, +max_queue:+, +retry_base:+, …).
  def initialize(endpoint:, key:, service: nil, environment: nil, release: nil, level: ::Logger::DEBUG,
                 transport: nil, **options)
    super(nil, level: level)
    @defaults = { "service" => service, "environment" => environment, "release" => release }.compact
    @transport = transport || Transport.new(endpoint, key, **options)
    EdgeLogger.default = self
  end

  # Logger's one entry point: +info+, +warn+, … and Rails' broadcast all come here.
  def add(severity, message = nil, progname = nil)
    severity ||= ::Logger::UNKNOWN
    return true if severity < level

    if message.nil?
      if block_given?
        message = yield
      else
        message = progname
        progname = self.progname
      end
    end
    return capture_exception(message, level: LEVELS.fetch(severity, "error"), component: progname) if message.is_a?(Exception)

    event = { "message" => message.is_a?(String) ? message : message.inspect, "level" => LEVELS.fetch(severity, "info") }
    event["component"] = progname.to_s if progname
    enqueue(event)
    true
  rescue StandardError
    @transport.count_internal
    true
  end

  # A domain event: +event_type+ is its message and tag, +payload+ its context.
  def event(event_type, payload = {}, routing_key: nil, priority: nil, event_id: nil, level: "info", message: nil, **fields)
    tags = { "event_type" => event_type.to_s }
    tags["routing_key"] = routing_key.to_s if routing_key
    tags.merge!(fields.delete(:tags).to_h.transform_keys(&:to_s)) if fields.key?(:tags)
    context = (payload || {}).to_h.transform_keys(&:to_s)
    context["priority"] = priority unless priority.nil?
    event = { "message" => (message || event_type).to_s, "level" => level.to_s, "tags" => tags, "context" => context }
    event["event_id"] = event_id.to_s if event_id
    enqueue(event.merge(fields.transform_keys(&:to_s)))
  rescue StandardError
    @transport.count_internal
    nil
  end

  # An exception with its backtrace (the worker parses the frames); +fields+ are event fields
  # (+endpoint:+, +component:+, +context:+, …).
  def capture_exception(error, level: "error", **fields)
    backtrace = error.backtrace || caller
    event = {
      "message" => "#{error.class.name}: #{error.message}",
      "level" => level.to_s,
      "error" => { "type" => error.class.name, "message" => error.message.to_s, "stack" => backtrace.join("\n") }
    }
    enqueue(event.merge(fields.transform_keys(&:to_s)))
  rescue StandardError
    @transport.count_internal
    nil
  end

  def flush(timeout = 5.0)
    @transport.flush(timeout)
  end

  def close(timeout = nil)
    @transport.close(timeout)
  end

  def stats
    @transport.stats
  end

  private

  def enqueue(event)
    event["timestamp"] ||= Time.now.utc.iso8601(3)
    @transport.enqueue(@defaults.merge(event))
  end
end

require_relative "edge_logger/rack"
