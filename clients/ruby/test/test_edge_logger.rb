# frozen_string_literal: true

# Unit tests of the Ruby client: the network is a lambda the test scripts, and retries wait
# through an injected lambda that only records, so no test waits on the clock to decide.
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "minitest/autorun"
require "socket"
require "edge_logger"

class FakeNetwork
  attr_reader :calls

  def initialize(*script)
    @script = script.empty? ? [:accept] : script
    @calls = []
    @lock = Mutex.new
  end

  def call(_uri, body, headers, _timeout)
    raw = headers["content-encoding"] == "gzip" ? Zlib.gunzip(body) : body
    events = JSON.parse(raw)
    step = @lock.synchronize do
      @calls << { headers: headers, events: events, bytes: body.bytesize }
      @script.size > 1 ? @script.shift : @script.first
    end
    raise step if step.is_a?(Exception)
    return step.call(events) if step.respond_to?(:call)
    return FakeNetwork.accepted(events) if step == :accept

    step
  end

  def events
    @lock.synchronize { @calls.flat_map { |c| c[:events] } }
  end

  def self.accepted(events)
    [202, {}, JSON.generate(accepted: events.size, rejected: 0, ids: [], errors: [])]
  end
end

module Helpers
  # A long interval: nothing leaves before a batch fills or flush asks, so batches are exact.
  def transport(net, waits = nil, **opts)
    EdgeLogger::Transport.new("https://logger.test", "elk_test", send: net, wait: ->(s) { waits&.push(s) },
                                                                 rand: -> { 1.0 }, flush_interval: 60, **opts)
  end
end

class TransportTest < Minitest::Test
  include Helpers

  def test_batches_by_count_as_json_with_the_key
    net = FakeNetwork.new
    t = transport(net, batch_size: 3)
    ids = 7.times.map { |i| t.enqueue("message" => "m#{i}") }
    assert t.flush(10)
    assert_equal [3, 3, 1], net.calls.map { |c| c[:events].size }
    assert_equal ids, net.events.map { |e| e["event_id"] }
    assert_equal "Bearer elk_test", net.calls[0][:headers]["authorization"]
    assert_equal "https://logger.test/v1/logs", t.uri.to_s
    assert_equal 7, t.stats[:sent]
  end

  def test_retry_after_is_honoured_with_the_same_event_ids
    waits = []
    net = FakeNetwork.new([503, { "retry-after" => ["0.3"] }, "{}"], :accept)
    t = transport(net, waits)
    ids = [t.enqueue("message" => "boom"), t.enqueue("message" => "x")]
    assert t.flush(10)
    assert_equal [0.3], waits
    assert_equal 2, net.calls.size
    assert_equal ids, net.calls[1][:events].map { |e| e["event_id"] }
    assert_equal net.calls[0][:events], net.calls[1][:events]
    assert_equal 2, t.stats[:retries]
  end

  def test_backoff_doubles_on_429_network_errors_and_5xx
    waits = []
    net = FakeNetwork.new([429, {}, "{}"], Errno::ECONNREFUSED.new, [502, {}, "{}"], :accept)
    t = transport(net, waits, retry_base: 0.04)
    t.enqueue("message" => "persistent")
    assert t.flush(10)
    assert_equal [0.04, 0.08, 0.16], waits
    assert_equal 1, t.stats[:sent]
  end

  def test_retry_after_parsing_and_backoff_bounds
    assert_equal 3.0, EdgeLogger::Transport.retry_after_seconds("3")
    assert_equal 6.0, EdgeLogger::Transport.retry_after_seconds("Thu, 01 Jan 1970 00:00:10 GMT", Time.at(4))
    assert_nil EdgeLogger::Transport.retry_after_seconds("soon")
    assert_equal 30, EdgeLogger::Transport.backoff_seconds(20, 0.5, 30, -> { 1.0 })
    assert_equal 1.0, EdgeLogger::Transport.backoff_seconds(3, 0.5, 30, -> { 0.0 })
  end

  def test_refused_events_are_dropped_unqueued_ones_sent_again
    first = [202, {}, JSON.generate(errors: [{ index: 0, code: "invalid_event", message: "bad" },
                                             { index: 2, code: "enqueue_failed", message: "later" }])]
    net = FakeNetwork.new(first, :accept)
    t = transport(net)
    %w[refused fine unqueued].each { |m| t.enqueue("message" => m) }
    assert t.flush(10)
    assert_equal [%w[refused fine unqueued], %w[unqueued]], net.calls.map { |c| c[:events].map { |e| e["message"] } }
    assert_equal [2, 1], [t.stats[:sent], t.stats[:rejected]]
  end

  def test_4xx_is_not_retried_413_halves_and_attempts_are_bounded
    net = FakeNetwork.new([401, {}, "{}"])
    t = transport(net)
    t.enqueue("message" => "a")
    assert t.flush(10)
    assert_equal [1, 1], [net.calls.size, t.stats[:rejected]]
    net = FakeNetwork.new(->(events) { events.size > 2 ? [413, {}, "{}"] : FakeNetwork.accepted(events) })
    t = transport(net, batch_size: 5)
    5.times { |i| t.enqueue("message" => "e#{i}") }
    assert t.flush(10)
    assert_equal [5, 2, 3, 1, 2], net.calls.map { |c| c[:events].size }
    assert_equal 5, t.stats[:sent]
    t = transport(FakeNetwork.new(Errno::ENETUNREACH.new), max_attempts: 3)
    t.enqueue("message" => "never")
    assert t.flush(10)
    assert_equal 1, t.stats[:failed]
  end

  def test_the_queue_is_bounded_the_oldest_dropped_and_counted
    gate = Queue.new
    net = FakeNetwork.new(->(events) { gate.pop; FakeNetwork.accepted(events) })
    t = transport(net, max_queue: 5, batch_size: 1)
    t.enqueue("message" => "in flight")
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    sleep 0.005 while net.calls.empty? && Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
    8.times { |i| t.enqueue("message" => "e#{i}") }
    assert_equal 3, t.stats[:dropped]
    7.times { gate << :go }
    assert t.flush(10)
    assert_equal ["in flight", "e3", "e4", "e5", "e6", "e7"], net.events.map { |e| e["message"] }
  end

  def test_large_bodies_are_gzipped_and_secrets_scrubbed
    net = FakeNetwork.new
    t = transport(net, gzip_above: 1000)
    t.enqueue("message" => "x" * 5000, "context" => { "password" => "hunter2", "user" => { "api_key" => "k", "name" => "jo" } },
              "tags" => { "cookie" => "c", "author" => "a" })
    assert t.flush(10)
    assert_equal "gzip", net.calls[0][:headers]["content-encoding"]
    assert_operator net.calls[0][:bytes], :<, 1000
    event = net.events.first
    assert_equal({ "password" => "[Filtered]", "user" => { "api_key" => "[Filtered]", "name" => "jo" } }, event["context"])
    assert_equal({ "cookie" => "[Filtered]", "author" => "a" }, event["tags"])
  end

  def test_nothing_raises_into_the_app
    t = transport(FakeNetwork.new)
    assert_nil t.enqueue(nil)
    bad = Object.new
    def bad.to_json(*) = raise("no json")
    assert_nil t.enqueue("message" => "x", "context" => { "v" => bad })
    assert_operator t.stats[:internal_errors], :>=, 2
  end

  def test_a_forked_child_starts_its_own_thread_and_sends_only_its_own_events
    reader, writer = IO.pipe
    gate = Queue.new
    child_net = lambda do |_uri, body, _headers, _timeout|
      events = JSON.parse(body)
      writer.puts(JSON.generate(events.map { |e| e["message"] }))
      FakeNetwork.accepted(events)
    end
    t = transport(->(_u, body, _h, _t) { gate.pop; FakeNetwork.accepted(JSON.parse(body)) }, batch_size: 1)
    t.enqueue("message" => "parent")
    pid = fork do
      t.instance_variable_set(:@send, child_net)
      t.enqueue("message" => "child")
      exit!(t.flush(10) ? 0 : 3)
    end
    Process.wait(pid)
    writer.close
    assert_equal 0, $?.exitstatus
    assert_equal [["child"]], reader.read.split("\n").map { |l| JSON.parse(l) }
    gate << :go
    assert t.flush(10)
  end
end

class LoggerTest < Minitest::Test
  include Helpers

  def setup
    @net = FakeNetwork.new
    @logger = EdgeLogger.new(endpoint: "https://logger.test", key: "k", service: "shop", environment: "staging",
                             release: "2.0.0", transport: transport(@net))
  end

  def test_it_is_a_logger_whose_records_map_onto_events
    assert_kind_of ::Logger, @logger
    @logger.warn("cart is empty")
    @logger.info("Checkout") { "lazy message" }
    @logger.debug("details")
    @logger.level = ::Logger::INFO
    @logger.debug("not sent")
    assert @logger.flush(10)
    warn, info, debug = @net.events
    assert_equal ["cart is empty", "warn", "shop", "staging", "2.0.0"], warn.values_at("message", "level", "service", "environment", "release")
    assert_match(/\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\z/, warn["timestamp"])
    assert_equal ["lazy message", "Checkout"], info.values_at("message", "component")
    assert_equal "debug", debug["level"]
    assert_equal 3, @net.events.size
  end

  def test_domain_events_and_exceptions
    @logger.event("order.paid", { order: 42 }, routing_key: "billing", priority: 7, event_id: "fixed-1")
    EdgeLogger.log("order.shipped", { order: 42 })
    begin
      raise ArgumentError, "amount must be positive"
    rescue ArgumentError => e
      EdgeLogger.capture_exception(e, component: "Payments")
      @logger.error(e)
    end
    assert @logger.flush(10)
    paid, shipped, captured, logged = @net.events
    assert_equal ["order.paid", "fixed-1"], paid.values_at("message", "event_id")
    assert_equal({ "event_type" => "order.paid", "routing_key" => "billing" }, paid["tags"])
    assert_equal({ "order" => 42, "priority" => 7 }, paid["context"])
    assert_equal "order.shipped", shipped["tags"]["event_type"]
    assert_equal ["ArgumentError", "amount must be positive"], captured["error"].values_at("type", "message")
    assert_match(/test_edge_logger\.rb:\d+:in `test_domain_events_and_exceptions'/, captured["error"]["stack"])
    assert_equal "Payments", captured["component"]
    assert_equal "ArgumentError", logged["error"]["type"]
  end

  def test_rack_middleware_reports_and_reraises_with_the_path
    app = ->(_env) { raise KeyError, "no such cart" }
    middleware = EdgeLogger::Rack.new(app, logger: @logger)
    assert_raises(KeyError) { middleware.call("PATH_INFO" => "/carts/9", "REQUEST_METHOD" => "POST") }
    ok = EdgeLogger::Rack.new(->(_env) { [200, {}, ["ok"]] }, logger: @logger)
    assert_equal 200, ok.call("PATH_INFO" => "/")[0]
    assert @logger.flush(10)
    assert_equal 1, @net.events.size
    event = @net.events.first
    assert_equal ["/carts/9", "KeyError", "POST"], [event["endpoint"], event["error"]["type"], event["context"]["method"]]
  end
end

class ExitTest < Minitest::Test
  def test_a_process_that_exits_flushes_what_it_queued
    server = TCPServer.new("127.0.0.1", 0)
    received = Queue.new
    serving = Thread.new do
      loop do
        client = server.accept
        head = +""
        head << client.gets until head.end_with?("\r\n\r\n")
        length = head[/content-length: (\d+)/i, 1].to_i
        body = client.read(length)
        body = Zlib.gunzip(body) if head.match?(/content-encoding: gzip/i)
        events = JSON.parse(body)
        events.each { |e| received << e["message"] }
        answer = JSON.generate(accepted: events.size, rejected: 0, ids: [], errors: [])
        client.write("HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: #{answer.bytesize}\r\nconnection: close\r\n\r\n#{answer}")
        client.close
      end
    rescue IOError
      nil
    end
    lib = File.expand_path("../lib", __dir__)
    # A ten-minute interval: only the exit flush can send it.
    script = "require 'edge_logger'; l = EdgeLogger.new(endpoint: ARGV[0], key: 'k', flush_interval: 600); l.warn('sent on the way out')"
    assert system(RbConfig.ruby, "-I", lib, "-e", script, "http://127.0.0.1:#{server.addr[1]}")
    # The child has exited, so what it sent is here already (its flush waited for the answer).
    assert_equal ["sent on the way out"], Array.new(received.size) { received.pop }
  ensure
    server&.close
    serving&.kill
  end
end
