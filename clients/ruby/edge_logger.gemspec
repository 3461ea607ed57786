# frozen_string_literal: true

Gem::Specification.new do |spec|
  spec.name = "edge_logger"
  spec.version = "0.1.0"
  spec.summary = "Send logs, exceptions and domain events to an edge-logger worker; standard library only"
  spec.authors = ["edge-logger"]
  spec.license = "MIT"
  spec.required_ruby_version = ">= 3.1"
  spec.files = Dir["lib/**/*.rb"]
  spec.require_paths = ["lib"]
end
