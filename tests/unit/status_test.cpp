#include <doctest/doctest.h>

#include "common/status.h"

using receta::Result;
using receta::Status;

TEST_CASE("Status.CarriesMessageAndContext") {
  CHECK(Status::Ok().ok());
  Status s = Status::Error("file not found").WithContext("dags/x.yaml");
  CHECK_FALSE(s.ok());
  CHECK(s.message() == "dags/x.yaml: file not found");
}

TEST_CASE("Result.HoldsValueOrError") {
  Result<int> good = 7;
  REQUIRE(good.ok());
  CHECK(*good == 7);
  Result<int> bad = Result<int>::Error("bad");
  CHECK_FALSE(bad.ok());
  CHECK(bad.error() == "bad");
}
