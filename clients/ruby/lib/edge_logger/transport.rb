# frozen_string_literal: true

require "json"
require "logger"
require "net/http"
require "securerandom"
require "time"
require "uri"
require "zlib"

class EdgeLogger < ::Logger
  # The background sender: a bounded queue, a thread that sends batches, retries that honour
  # Retry-After, gzip above a size, a flush at exit and a fresh thread after a fork. Nothing
  # here raises into the application: failures are counted in +stats[:internal_errors]+.
  #
  # +send:+ (+->(uri, body, headers, timeout) { [status, headers, body] }+), +wait:+ (the pause
  # between retries) and +rand:+ are injectable, so tests script the network and record the
  # waits instead of sleeping.
  class Transport
    RETRYABLE_ITEM_CODES = %w[enqueue_failed].freeze
    FILTERED = "[Filtered]"
    # The same key names the JavaScript SDK and the Python client filter.
    SECRET_KEY = /pass(word|wd|phrase)?$|secret|token|api[-_]?key|^auth(orization)?$|cookie|^session$|credit[-_]?card|card[-_]?number|^cvv$|^cvc$|^ssn$|private[-_]?key/i.freeze

    @live = []
    @live_lock = Mutex.new
    class << self
      attr_reader :live, :live_lock
    end

    at_exit do
      Transport.live_lock.synchronize { Transport.live.dup }.each do |t|
        t.close
      rescue StandardError
        nil
      end
    end

    attr_reader :uri

    def initialize(endpoint, key, max_queue: 10_000, batch_size: 100, flush_interval: 2.0, max_attempts: 10,
                   retry_base: 0.5, retry_max: 30.0, gzip_above: 4096, timeout: 10.0, exit_timeout: 5.0,
                   send: nil, wait: nil, rand: nil)
      base = endpoint.to_s.sub(%r{/+\z}, "")
      @uri = URI(base.end_with?("/v1/logs") ? base : "#{base}/v1/logs")
      @key = key
      @max_queue = [1, max_queue.to_i].max
      @batch_size = batch_size.to_i.clamp(1, 1000)
      @flush_interval = [0.0, flush_interval.to_f].max
      @max_attempts = [1, max_attempts.to_i].max
      @retry_base = retry_base.to_f
      @retry_max = retry_max.to_f
      @gzip_above = gzip_above.to_i
      @timeout = timeout.to_f
      @exit_timeout = exit_timeout.to_f
      @send = send || method(:net_http_send)
      @wait = wait
      @rand = rand || -> { Kernel.rand }
      @counters = { sent: 0, dropped: 0, rejected: 0, failed: 0, retries: 0, internal_errors: 0 }
      @closed = false
      reset_runtime
      Transport.live_lock.synchronize { Transport.live << self }
    end

    def self.retry_after_seconds(header, now = Time.now)
      return nil if header.nil?

      value = header.to_s.strip
      return [0.0, Float(value)].max if value.match?(/\A\d+(\.\d+)?\z/)

      [0.0, Time.httpdate(value) - now].max
    rescue ArgumentError
      nil
    end

    def self.backoff_seconds(attempt, base, cap, rand)
      [cap, base * (2**[0, attempt - 1].max)].min * (0.5 + (rand.call / 2))
    end

    # Queues one event (a Hash); gives it an +event_id+ if it has none. Returns the id.
    def enqueue(event)
      return nil if @closed

      after_fork_check
      event = scrub_event(event.transform_keys(&:to_s))
      event["event_id"] ||= EdgeLogger.uuid7
      line = JSON.generate(event)
      @lock.synchronize do
        @queue << line
        while @queue.size > @max_queue
          @queue.shift
          @counters[:dropped] += 1
        end
        @cond.broadcast if @queue.size >= @batch_size || @flush_interval.zero?
        ensure_thread
      end
      event["event_id"]
    rescue StandardError
      count_internal
      nil
    end

    # Blocks until everything queued was sent or given up, or +timeout+ passes.
    def flush(timeout = 5.0)
      after_fork_check
      deadline = monotonic + timeout.to_f
      @lock.synchronize do
        return true if @queue.empty? && @inflight.zero?

        @flush_waiters += 1
        begin
          @cond.broadcast
          ensure_thread
          until @queue.empty? && @inflight.zero?
            left = deadline - monotonic
            return false if left <= 0

            @cond.wait(@lock, [left, 0.05].min)
          end
          true
        ensure
          @flush_waiters -= 1
        end
      end
    rescue StandardError
      count_internal
      false
    end

    def close(timeout = nil)
      done = flush(timeout || @exit_timeout)
      @closed = true
      @lock.synchronize { @cond.broadcast }
      done
    rescue StandardError
      count_internal
      false
    end

    def stats
      @lock.synchronize { @counters.merge(queued: @queue.size + @inflight) }
    rescue StandardError
      @counters.merge(queued: 0)
    end

    def count_internal
      @counters[:internal_errors] += 1
    end

    private

    # A forked child (a Puma or Unicorn worker) starts with an empty queue and its own thread:
    # the parent's queued events are the parent's to send.
    def after_fork_check
      reset_runtime if Process.pid != @pid
    end

    def reset_runtime
      @pid = Process.pid
      @queue = []
      @lock = Mutex.new
      @cond = ConditionVariable.new
      @thread = nil
      @inflight = 0
      @flush_waiters = 0
    end

    def monotonic
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end

    def ensure_thread
      return if @thread&.alive?

      @thread = Thread.new { run }
      @thread.name = "edge-logger" if @thread.respond_to?(:name=)
      @thread.report_on_exception = false
    end

    def run
      loop do
        batch = @lock.synchronize do
          if @queue.empty? && !@closed
            @cond.wait(@lock, @flush_interval.positive? ? @flush_interval : nil)
          elsif @queue.size < @batch_size && @flush_waiters.zero? && !@closed && @flush_interval.positive?
            @cond.wait(@lock, @flush_interval) # a partial batch waits for more to join it
          end
          return if @closed && @queue.empty?

          taken = @queue.shift(@batch_size)
          @inflight += taken.size
          taken
        end
        next if batch.empty?

        begin
          deliver(batch)
        ensure
          @lock.synchronize do
            @inflight -= batch.size
            @cond.broadcast
          end
        end
      rescue StandardError
        count_internal
      end
    end

    def pause(seconds)
      @wait ? @wait.call(seconds) : sleep(seconds)
    end

    def deliver(batch)
      attempt = 0
      until batch.empty?
        attempt += 1
        status, headers, body = post(batch)
        if [200, 202].include?(status)
          retry_items, refused = split_202(batch, body)
          @counters[:sent] += batch.size - retry_items.size - refused
          @counters[:rejected] += refused
          batch = retry_items
          return if batch.empty?
        elsif status == 413 && batch.size > 1
          half = batch.size / 2
          deliver(batch[0...half])
          deliver(batch[half..])
          return
        elsif status && status >= 400 && status < 500 && ![408, 429].include?(status)
          @counters[:rejected] += batch.size
          return
        end
        if attempt >= @max_attempts || (@closed && attempt >= 2)
          @counters[:failed] += batch.size
          return
        end
        @counters[:retries] += batch.size
        told = self.class.retry_after_seconds(header(headers, "retry-after"))
        pause(told || self.class.backoff_seconds(attempt, @retry_base, @retry_max, @rand))
      end
    end

    def post(batch)
      body = "[#{batch.join(",")}]"
      headers = { "content-type" => "application/json", "authorization" => "Bearer #{@key}",
                  "user-agent" => "edge-logger-ruby" }
      if body.bytesize > @gzip_above
        body = Zlib.gzip(body)
        headers["content-encoding"] = "gzip"
      end
      @send.call(@uri, body, headers, @timeout)
    rescue StandardError, Timeout::Error
      [nil, {}, ""] # the network: retried
    end

    def split_202(batch, body)
      errors = JSON.parse(body.to_s)["errors"] || []
      refused = 0
      retry_items = []
      errors.each do |error|
        index = error.is_a?(Hash) ? error["index"] : nil
        next unless index.is_a?(Integer) && index >= 0 && index < batch.size

        if RETRYABLE_ITEM_CODES.include?(error["code"])
          retry_items << batch[index]
        else
          refused += 1
        end
      end
      [retry_items, refused]
    rescue JSON::ParserError, NoMethodError, TypeError
      [[], 0]
    end

    def header(headers, name)
      (headers || {}).each { |k, v| return Array(v).first if k.to_s.downcase == name }
      nil
    end

    def net_http_send(uri, body, headers, timeout)
      http = Net::HTTP.new(uri.host, uri.port)
      http.use_ssl = uri.scheme == "https"
      http.open_timeout = http.read_timeout = http.write_timeout = timeout
      response = http.post(uri.request_uri, body, headers)
      [response.code.to_i, response.to_hash, response.body]
    end

    def scrub_event(event)
      %w[context tags].each { |f| event[f] = scrub(event[f]) if event[f].is_a?(Hash) }
      event
    end

    def scrub(value, depth = 0)
      return value if depth > 16

      case value
      when Hash
        value.each_with_object({}) do |(k, v), out|
          out[k] = k.to_s.match?(SECRET_KEY) && !v.nil? ? FILTERED : scrub(v, depth + 1)
        end
      when Array then value.map { |v| scrub(v, depth + 1) }
      else value
      end
    end
  end
end
