// Lab tests measure time and throughput on a 2-core machine: one at a time, or they disturb each other.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
