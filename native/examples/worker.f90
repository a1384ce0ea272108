! Slide 19's worker in Fortran, through ISO_C_BINDING: gets the initial data, checks every
! element, and puts its result ("MyOutput/<worker>") for the master, as worker.c does.
!
! Usage: worker_f ID [URI]
!   ID   this worker's number (0, 1, ...)
!   URI  the relay to use; default: $OMNISTORE_RELAY, else the embedded store

! The module omnistore is native/include/omnistore.f90 (installed compiled, as include/omnistore.mod
! with lib/libomnistore_fortran.a, and as source: docs/native.md, "Fortran").
program worker
  use omnistore
  implicit none
  interface
    integer(c_int) function c_usleep(microseconds) bind(c, name='usleep')
      import :: c_int
      integer(c_int), value :: microseconds
    end function
  end interface
  integer, parameter :: initial_count = 1000 * 1000, output_count = 1000, wait_seconds = 120
  real(c_double), allocatable, target :: initialdata(:)
  real(c_double), target :: output(output_count)
  character(kind=c_char), allocatable, target :: uri(:)
  character(len=1024) :: argument
  character(len=64) :: name
  integer(c_long_long) :: got
  integer(c_int) :: rc
  integer :: id, i, j, k, polls, length

  if (command_argument_count() < 1) then
    write (0, '(a)') 'usage: worker_f ID [URI]'
    error stop 2
  end if
  call get_command_argument(1, argument)
  read (argument, *) id

  if (command_argument_count() >= 2) then
    call get_command_argument(2, argument, length)
    allocate(uri(length + 1))
    do i = 1, length
      uri(i) = argument(i:i)
    end do
    uri(length + 1) = c_null_char
    rc = omst_init(c_loc(uri))
  else
    rc = omst_init(c_null_ptr)
  end if
  if (rc /= OMST_OK) call fail('omst_init', int(rc, c_long_long))

  ! The master may not have put the data yet: wait for it, 20 ms at a time.
  allocate(initialdata(initial_count))
  do polls = 1, wait_seconds * 50
    got = omst_get_data('MyInitialData' // c_null_char, c_loc(initialdata), &
                        int(8 * initial_count, c_size_t))
    if (got /= OMST_E_NOT_FOUND) exit
    rc = c_usleep(20000_c_int)
  end do
  if (got < 0) call fail('omst_get_data', got)
  if (got /= 8 * initial_count) then
    write (0, '(a, i0, a)') 'worker_f: MyInitialData has ', got, ' bytes, expected 8000000'
    error stop 1
  end if
  do i = 1, initial_count
    if (initialdata(i) /= real(i - 1, c_double) * 0.5_c_double) then
      write (0, '(a, i0, a, f0.1)') 'worker_f: MyInitialData(', i, ') = ', initialdata(i)
      error stop 1
    end if
  end do

  ! Row k of the C matrix is initialdata(1000k+1 .. 1000k+1000).
  do k = 0, output_count - 1
    output(k + 1) = real(id, c_double)
    do j = 1, 1000
      output(k + 1) = output(k + 1) + initialdata(k * 1000 + j)
    end do
  end do
  write (name, '(a, i0)') 'MyOutput/', id
  rc = omst_put_data(trim(name) // c_null_char, c_loc(output), int(8 * output_count, c_size_t))
  if (rc /= OMST_OK) call fail('omst_put_data', int(rc, c_long_long))
  write (*, '(a, i0, a, i0, a, a)') 'worker_f ', id, ': got MyInitialData (', got, ' bytes, checked), put ', trim(name)

  rc = omst_finalize()
  if (rc /= OMST_OK) call fail('omst_finalize', int(rc, c_long_long))
contains

  subroutine fail(what, code)
    character(len=*), intent(in) :: what
    integer(c_long_long), intent(in) :: code
    write (0, '(a, ": ", a, " (", i0, "): ", a)') 'worker_f: ' // what, &
      omst_string(omst_strerror(int(code, c_int))), code, omst_string(omst_last_error())
    error stop 1
  end subroutine
end program worker
